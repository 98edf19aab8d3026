"""One benchmark run: build every engine at every batch size, time them, check them against eager.

The result holds a row per engine and batch (the table), the raw samples (the plots), the
machine and the parameters (what the numbers mean), and notes (what may have bent them).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.bench.engines import (
    DEFAULT_ENGINES,
    REFERENCE_ENGINE,
    Engine,
    Log,
    Workbench,
    build_artifact_engine,
    build_engine,
    select_engines,
)
from helpers.bench.inputs import AGREEMENT_INPUTS, agreement_images
from helpers.bench.stats import (
    accuracy_chunks,
    compare_probabilities,
    probabilities,
    speedup,
    summarize,
    throughput,
)
from helpers.bench.timing import (
    BUSY_SHARE,
    DEFAULT_BLOCK,
    DEFAULT_SETTLE_MS,
    CpuCompetition,
    time_engines,
)
from helpers.machine import describe_machine
from helpers.models import DEFAULT_MODEL, ModelSpec

DEFAULT_BATCHES = (1, 8)
DEFAULT_REPEATS = 30
DEFAULT_WARMUP = 5
REFERENCE_BATCH = 8  # eager's reference answers are computed in chunks of 8 (AGREEMENT_INPUTS is a multiple of 8)


@dataclass
class BenchResult:
    """Rows (one per engine and batch), raw samples for plots, and what they were measured on."""

    rows: list[dict[str, Any]]
    samples: dict[str, dict[str, list[float]]]
    machine: dict[str, Any]
    parameters: dict[str, Any]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _row(engine: Engine, stats: dict[str, Any] | None, accuracy: dict[str, Any] | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "engine": engine.name,
        "precision": engine.precision,
        "batch": engine.batch,
        "median_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": None, "min_ms": None, "n": 0,
        "throughput_ips": None,
        "speedup_vs_eager": None,
        "max_abs_dprob": None,
        "top1_agree": None,
        "setup_s": None if engine.setup_s is None else round(engine.setup_s, 3),
        "compile_s": None if engine.compile_s is None else round(engine.compile_s, 3),
        "page_faults_per_run": round(engine.page_faults / engine.timed_runs) if engine.timed_runs else None,
        "runtime": engine.runtime,
        "skipped": engine.skipped,
    }
    if stats:
        row.update({f"{k}_ms": round(stats[k], 4) for k in ("median", "p90", "p99", "mean", "min")})
        row["n"] = stats["n"]
        row["throughput_ips"] = round(throughput(engine.batch, stats["median"]), 2)
    if accuracy:
        row.update(accuracy)
    if engine.kernels or engine.isa:  # an artifact run in its own process, at its target's instruction set
        row |= {"isa": engine.isa, "kernels": engine.kernels}
    return row


def run_benchmark(
    model_name: str = DEFAULT_MODEL,
    *,
    engines: Sequence[str] | None = None,
    batches: Sequence[int] = DEFAULT_BATCHES,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    work_dir: Path | None = None,
    interleave: bool = True,
    block: int = DEFAULT_BLOCK,
    settle_ms: float = DEFAULT_SETTLE_MS,
    model: Any = None,
    spec: ModelSpec | None = None,
    traced_file: Path | None = None,
    compiled_dirs: dict[int, Path] | None = None,
    log: Log | None = None,
    bf16: bool = True,
    agreement_inputs: int = AGREEMENT_INPUTS,
) -> BenchResult:
    """Build every engine at every batch size, time them, check their answers against eager.

    `engines` defaults to DEFAULT_ENGINES; with `bf16`, the bf16 twin of each (neo-local's) is
    timed too where the CPU has native bf16, as reduced-precision rows after the fp32 ones.
    Pass `model` + `spec` to benchmark a model that is not in the zoo (tests use a tiny one),
    `traced_file` to reuse a trace, and `compiled_dirs` ({batch: artifact dir}) to time fp32
    artifacts compiled earlier instead of compiling them here (their compile_s is the recorded one).
    `agreement_inputs` (default: the 240 of `inputs.AGREEMENT_INPUTS`) is how many images every engine
    is compared with eager on; a quick experiment may take fewer, and its rows say how many.
    """
    from helpers.images import sample_images

    if repeats < 1 or warmup < 0 or not batches or min(batches) < 1:
        raise ValueError("repeats must be >= 1, warmup >= 0 and every batch size >= 1.")
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    notes: list[str] = []
    names = select_engines(engines or DEFAULT_ENGINES, notes, add_bf16=bf16)
    if model is None:
        from helpers.models import load_model

        model, spec = load_model(model_name)
    if spec is None:
        raise ValueError("Pass the model's ModelSpec along with the model.")
    if work_dir is None:
        from helpers.paths import work_dir as default_work_dir

        work_dir = default_work_dir() / "bench"
    work_dir.mkdir(parents=True, exist_ok=True)
    workbench = Workbench(
        model=model.eval(), spec=spec, work_dir=work_dir, log=log, traced_file=traced_file,
        compiled_dirs={int(b): Path(d) for b, d in (compiled_dirs or {}).items()},
    )
    images = agreement_images(sample_images(), spec, agreement_inputs)  # the first: the photo as it is, the one timed

    rows: list[dict[str, Any]] = []
    reference = None
    samples: dict[str, dict[str, list[float]]] = {}
    competition: dict[int, float] = {}
    for batch in batches:
        chunks = accuracy_chunks(images, batch)
        built = [build_engine(name, workbench, batch) for name in names]
        log(f"timing batch {batch}: {len(built)} engines x ({warmup} warm-up + {repeats} timed runs)")
        with CpuCompetition() as meter:
            samples[str(batch)] = time_engines(
                built, chunks[0], repeats=repeats, warmup=warmup, interleave=interleave, block=block,
                settle_ms=settle_ms,
            )
        competition[batch] = meter.share
        if reference is None:
            reference = reference_answers(built[0], images)
        eager_stats = None
        for engine in built:
            stats = summarize(samples[str(batch)][engine.label]) if engine.run else None
            accuracy = agreement(engine, reference, chunks) if engine.run else None
            if engine.name == REFERENCE_ENGINE:
                eager_stats = stats
            row = _row(engine, stats, accuracy) | {"agreement_inputs": len(images) if accuracy else 0}
            if stats and eager_stats:
                row["speedup_vs_eager"] = round(speedup(eager_stats["median"], stats["median"]), 3)
            rows.append(row)
    busy = {batch: share for batch, share in competition.items() if share > BUSY_SHARE}
    if busy:
        shares = ", ".join(f"{share:.0%} at batch {batch}" for batch, share in busy.items())
        notes.append(
            f"machine busy: other processes used {shares} of the CPU while timing; absolute numbers "
            "are inflated and noisy: compare engines within this run, or rerun on an idle machine"
        )
    parameters = {
        "model": spec.name,
        "engines": names,
        "batches": list(batches),
        "repeats": repeats,
        "warmup": warmup,
        "interleaved": interleave,
        "images": [p.name for p in sample_images()],
        "agreement_inputs": len(images),  # variants of those photos every engine is compared with eager on
        "trace_s": round(workbench.trace_s, 3),
        "compiled_dirs": {str(b): str(d) for b, d in workbench.compiled_dirs.items()},
        "torch_threads": _torch_threads(),
        "block": block if interleave else repeats,
        "settle_ms": settle_ms if interleave else 0,
        "other_cpu_share": {str(b): round(v, 3) for b, v in competition.items()},
        "work_dir": str(work_dir),
    }
    return BenchResult(rows=rows, samples=samples, machine=describe_machine(), parameters=parameters, notes=notes)


def run_artifacts(
    model_dirs: dict[str, Path],
    *,
    model: Any,
    spec: ModelSpec,
    batch: int = 1,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    log: Log | None = None,
    isolated: bool = False,
) -> BenchResult:
    """Time several compiled artifacts (label -> directory) against eager in ONE interleaved run.

    The same rules as `run_benchmark` (warm-up, interleaved turns, median/p90, answers checked
    against eager on `inputs.agreement_images`), with eager timed once for all of them: notebook 06
    times one artifact per target this way. An artifact that cannot run here is a row with
    `skipped` saying why. `isolated` runs each artifact in a process of its own, capped at its
    target CPU's instruction set (bench/isolated.py); its row then names that cap and the kernels.
    """
    from helpers.images import sample_images

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    workbench = Workbench(model=model.eval(), spec=spec, work_dir=Path(), log=log)  # eager writes nothing
    images = agreement_images(sample_images(), spec)
    chunks = accuracy_chunks(images, batch)
    built = [build_engine(REFERENCE_ENGINE, workbench, batch)]
    try:
        built += [build_artifact_engine(label, Path(d), batch, log, isolated) for label, d in model_dirs.items()]
        log(f"timing batch {batch}: {len(built)} engines x ({warmup} warm-up + {repeats} timed runs)")
        with CpuCompetition() as meter:
            samples = time_engines(built, chunks[0], repeats=repeats, warmup=warmup)
        reference = reference_answers(built[0], images)
        eager_stats = summarize(samples[built[0].label])
        rows = []
        for engine in built:
            stats = summarize(samples[engine.label]) if engine.run else None
            accuracy = agreement(engine, reference, chunks) if engine.run else None
            row = _row(engine, stats, accuracy) | {"agreement_inputs": len(images) if accuracy else 0}
            if stats:
                row["speedup_vs_eager"] = round(speedup(eager_stats["median"], stats["median"]), 3)
            rows.append(row)
    finally:  # an isolated artifact's process stops here, whatever happened
        for engine in built:
            if engine.close:
                engine.close()
    notes = [f"machine busy: other processes used {meter.share:.0%} of the CPU while timing"] if meter.share > BUSY_SHARE else []
    parameters = {"model": spec.name, "artifacts": {k: str(v) for k, v in model_dirs.items()}, "batches": [batch],
                  "agreement_inputs": len(images), "isolated": isolated,
                  "repeats": repeats, "warmup": warmup, "interleaved": True, "other_cpu_share": round(meter.share, 3)}
    return BenchResult(rows=rows, samples={str(batch): samples}, machine=describe_machine(), parameters=parameters, notes=notes)


def reference_answers(eager: Engine, images: np.ndarray) -> np.ndarray:
    """Eager's probabilities on the agreement inputs, computed once per run, in chunks of
    REFERENCE_BATCH: eager PyTorch takes any batch size, and its answers do not depend on it
    beyond float rounding (~1e-7, four orders below the 1e-3 the lessons check)."""
    return probabilities(eager.run, accuracy_chunks(images, REFERENCE_BATCH))


def agreement(engine: Engine, reference: np.ndarray, chunks: list[np.ndarray]) -> dict[str, Any]:
    """An engine's agreement with the eager reference; eager's own row is the reference itself
    (computing it again would only double the slowest engine's share of the run)."""
    if engine.name == REFERENCE_ENGINE and engine.precision == "fp32":
        return compare_probabilities(reference, reference)
    return compare_probabilities(reference, probabilities(engine.run, chunks))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()

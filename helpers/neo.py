"""Client-side helpers for Neo compilation jobs: the waiting and the reading (pre-flight: helpers.preflight).

The boto3 calls that teach (`create_compilation_job`, `describe_compilation_job`) stay in the
notebooks. There is no boto3 waiter for compilation jobs, so `wait_for_compilation` polls with a
progress bar instead, and `wait_for_compilations` does the same for several jobs at once.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers.polling import wait_until
from helpers.sagemaker_facts import (
    COMPILATION_TERMINAL_STATUSES,
    ENTITY_NAME,
    MAX_NAME_CHARS,
    name_violations,
)

SUFFIX_RESERVE = 16  # room for what the notebooks append to a job name ("-exercise-wrong")


def unique_name(prefix: str, reserve: int = SUFFIX_RESERVE) -> str:
    """`<prefix>-<YYYYmmdd-HHMMSS>-<4 random hex>`: a compilation job name no other run takes.

    Compilation job names are unique per account and region, forever (a finished job keeps its
    name until deleted), and two runs started in the same second would otherwise collide. The
    result satisfies SageMaker's EntityName pattern with `reserve` characters to spare for
    suffixes, or this raises ValueError naming the constraint.
    """
    name = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    problems = name_violations(name, "compilationJobName", ENTITY_NAME)
    if problems or len(name) + reserve > MAX_NAME_CHARS:
        raise ValueError(f"{name!r} cannot be a compilation job name with {reserve} characters to spare: "
                         f"{'; '.join(problems) or f'longer than {MAX_NAME_CHARS - reserve}'}. Use a shorter prefix "
                         "(letters, digits, hyphens).")
    return name


def wait_for_compilation(sm: Any, job_name: str, *, poll_s: float = 2.0, timeout_s: float = 1800) -> dict[str, Any]:
    """Poll `describe_compilation_job` until a terminal status, showing status and elapsed time.

    Returns the last description whatever the outcome; the notebook decides what a FAILED means.
    """
    from helpers.progress import StatusLine

    started, seen = time.monotonic(), ["starting"]
    with StatusLine(f"{job_name}: starting") as line:
        def finished() -> dict[str, Any] | None:
            job = sm.describe_compilation_job(CompilationJobName=job_name)
            seen.append(job["CompilationJobStatus"])
            line.set(f"{job_name}: {seen[-1]} ({time.monotonic() - started:4.0f} s)")
            return job if seen[-1] in COMPILATION_TERMINAL_STATUSES else None

        return wait_until(finished, timeout_s=timeout_s, interval_s=poll_s, timeout_message=lambda: (
            f"{job_name} still {seen[-1]} after {timeout_s:.0f} s: stop it with stop_compilation_job."))


def wait_for_compilations(sm: Any, job_names: Sequence[str], *, poll_s: float = 3.0,
                          timeout_s: float = 3600) -> dict[str, dict[str, Any]]:
    """Poll several jobs until every one is terminal, with ONE progress bar for all of them.

    Each poll describes only the jobs still running. Returns {job name: last description}, in
    the order given, whatever each outcome; the notebook decides what a FAILED means.
    """
    from helpers.progress import StatusLine

    if not job_names:
        return {}
    started, done = time.monotonic(), {}
    statuses: Counter[str] = Counter()
    with StatusLine(f"{len(job_names)} jobs: starting") as line:
        def finished() -> dict[str, dict[str, Any]] | None:
            statuses.clear()
            for name in job_names:
                job = done.get(name) or sm.describe_compilation_job(CompilationJobName=name)
                statuses[job["CompilationJobStatus"]] += 1
                if name not in done and job["CompilationJobStatus"] in COMPILATION_TERMINAL_STATUSES:
                    done[name] = job
            counts = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
            line.set(f"{len(job_names)} jobs: {counts}, {len(done)}/{len(job_names)} finished "
                     f"({time.monotonic() - started:4.0f} s)")
            return {name: done[name] for name in job_names} if len(done) == len(job_names) else None

        return wait_until(finished, timeout_s=timeout_s, interval_s=poll_s, timeout_message=lambda: (
            f"{', '.join(n for n in job_names if n not in done)} still running after {timeout_s:.0f} s: "
            "stop them with stop_compilation_job."))


def finished_jobs(sm: Any, prefix: str, suffixes: tuple[str, ...]) -> list[str]:
    """Names of finished compilation jobs (COMPLETED, FAILED or STOPPED: the only ones
    DeleteCompilationJob takes) that start with `prefix` and end with one of `suffixes`, from this
    run or an earlier one: what a clean-up cell deletes without needing the variables of cells
    that may never have run."""
    names = []
    for page in sm.get_paginator("list_compilation_jobs").paginate(NameContains=prefix):
        names += [job["CompilationJobName"] for job in page["CompilationJobSummaries"]
                  if job["CompilationJobName"].startswith(prefix) and job["CompilationJobName"].endswith(suffixes)
                  and job["CompilationJobStatus"] in COMPILATION_TERMINAL_STATUSES]
    return sorted(names)


def job_target(job: dict[str, Any]) -> str:
    """A job's target as Neo names its artifact: the TargetDevice, or OS_ARCH[_ACCELERATOR]."""
    output = job.get("OutputConfig", {})
    platform = output.get("TargetPlatform") or {}
    return output.get("TargetDevice") or "_".join(filter(None, (platform.get(k) for k in ("Os", "Arch", "Accelerator"))))


def compile_seconds(job: dict[str, Any]) -> float | None:
    """How long a finished job compiled: CompilationEndTime - CompilationStartTime, when both are there."""
    start, end = job.get("CompilationStartTime"), job.get("CompilationEndTime")
    return round((end - start).total_seconds(), 1) if start and end else None


def artifact_compiler(model_dir: Path) -> str:
    """Which compiler built an extracted Neo artifact, from what the artifact itself records.

    - `compiled.meta` naming a compiler: the local Neo writes `compiler` and `compiler_version`
      (which fields a real Neo meta file holds is not documented).
    - `compiled_model.json`: TVM's graph executor graph. Functions TVM handed to another compiler
      are named after it (TVM's "bring your own codegen" partitioning, e.g.
      `tvmgen_default_tensorrt_main_0`, apache/tvm tests), so TensorRT shows in the graph.
    - DLR's own rule for a directory without a graph (neo-ai-dlr src/dlr_common.cc, GetBackend):
      a `.params` file means TVM; only a `.so` means a Treelite model (tree ensembles).
    - A TorchScript file: Neo's PyTorch path for ml_* instances, which records no compiler.
    """
    meta_file = model_dir / "compiled.meta"
    if meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text())
        except ValueError:
            meta = {}
        if isinstance(meta, dict) and meta.get("compiler"):
            return f"{meta['compiler']} {meta.get('compiler_version', '')}".strip()
    graph_file = model_dir / "compiled_model.json"
    if graph_file.is_file():
        names = [str(node.get("attrs", {}).get("func_name", "")) for node in json.loads(graph_file.read_text()).get("nodes", [])]
        return "TVM + TensorRT" if any("tensorrt" in name.lower() for name in names) else "TVM"
    files = {p.name for p in model_dir.iterdir()} if model_dir.is_dir() else set()
    if any(name.endswith(".params") for name in files):
        return "TVM"
    if any(name.endswith(".so") and name != "libdlr.so" for name in files):
        return "Treelite"
    if files & {"compiled.pt", "model.pth", "model.pt"}:
        return "Neo for PyTorch (TorchScript; no compiler recorded)"
    return "not recorded"


def failure_summary(job: dict[str, Any]) -> str:
    """One readable line for a finished job: its status and, if any, Neo's FailureReason."""
    reason = job.get("FailureReason") or ""
    return f"{job['CompilationJobName']}: {job['CompilationJobStatus']}" + (f" - {reason}" if reason else "")


def read_meta(model_dir: Path) -> dict[str, Any] | None:
    """`compiled.meta` of an extracted artifact (JSON), or None when the artifact has none.

    The local Neo always writes one; real Neo writes one into DLR model directories, but its
    PyTorch artifacts for ml_* instances (TorchScript + sample_input.pkl) are not known to carry
    one: absence is normal, not an error. A directory that does not exist is one.
    """
    if not model_dir.is_dir():
        raise FileNotFoundError(f"No artifact directory at {model_dir}: extract the compiled model.tar.gz first.")
    path = model_dir / "compiled.meta"
    return json.loads(path.read_text()) if path.exists() else None


def meta_rows(meta: dict[str, Any] | None) -> list[dict[str, str]]:
    """compiled.meta flattened into (field, value) rows for a table; one explaining row without it."""
    if meta is None:
        return [{"field": "compiled.meta", "value": "not in this artifact (real Neo's PyTorch artifacts for ml_* "
                                                    "instances have none): the file table above shows what it holds"}]
    return [{"field": key, "value": json.dumps(value) if isinstance(value, dict | list) else str(value)}
            for key, value in meta.items()]

"""The engines the benchmark times: one way each to run the model, built for one batch size.

Engines are callables `float32 NCHW batch -> logits`. `setup_s` is what an engine costs before
its first answer at that batch size, from the eager model in memory (trace, export, compile,
load); `compile_s` is the compile/export part of it. Steps shared across batch sizes (the trace,
the ONNX export) are counted once, on the first batch. Engines that compile for a fixed shape
(the local Neo, torch.compile) pay again for each batch size, just as Neo compiles one artifact
per DataInputConfig. A builder that fails makes a skipped engine, with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.container.inference import torch_runner
from helpers.models import ModelSpec

# TorchScript is deprecated in torch 2.14 (notebook 01 explains why Neo still needs it): the
# benchmark loads traced models many times and the repeated warning would bury its output.
warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit\.")

Runner = Callable[[np.ndarray], np.ndarray]
Log = Callable[[str], None]

DEFAULT_ENGINES = ("eager", "torchscript", "neo-local", "torch.compile", "onnxruntime", "openvino-default")
BF16_VARIANTS = {"neo-local": "neo-local-bf16"}  # engine -> its bf16 twin, timed where the CPU has native bf16
BF16_ENGINES = tuple(BF16_VARIANTS.values())
ALL_ENGINES = (*DEFAULT_ENGINES, *BF16_ENGINES)
REFERENCE_ENGINE = "eager"
UNDER_TEST = "neo-local"
INPUT_NAME = "input0"


@dataclass
class Engine:
    """One way to run the model at one batch size, ready to time (or the reason it is not)."""

    name: str
    precision: str
    batch: int
    run: Runner | None = None
    setup_s: float | None = None
    compile_s: float | None = None
    runtime: str = ""
    skipped: str | None = None
    page_faults: int = 0  # minor page faults during timed runs (fresh memory mapped per call)
    timed_runs: int = 0
    kernels: dict[str, int] = field(default_factory=dict)  # convolution kernels picked (isolated artifacts)
    isa: str = ""  # the instruction-set cap it ran under
    close: Callable[[], None] | None = None  # stops what runs it (an isolated artifact's process)

    @property
    def label(self) -> str:
        return self.name if self.precision == "fp32" else f"{self.name} ({self.precision})"


@dataclass
class Workbench:
    """The model under test and what the engines derive from it (traced file, ONNX export), made on first use."""

    model: Any
    spec: ModelSpec
    work_dir: Path
    log: Log
    traced_file: Path | None = None
    trace_s: float = 0.0
    compiled_dirs: dict[int, Path] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    def shape(self, batch: int) -> list[int]:
        return [batch, *self.spec.input_shape[1:]]

    def traced(self) -> Path:
        """The TorchScript file Neo reads (traced once at batch 1; convnets trace batch-agnostic)."""
        if self.traced_file is None:
            import torch

            from helpers.tracing import trace_model

            started = time.perf_counter()
            path = self.work_dir / "model.pth"
            trace_model(self.model, torch.zeros(self.spec.input_shape), path)
            self.traced_file, self.trace_s = path, time.perf_counter() - started
            self.log(f"traced {self.spec.name} in {self.trace_s:.1f} s -> {path}")
        return self.traced_file


def _build_eager(workbench: Workbench, batch: int) -> dict[str, Any]:
    import torch

    return {"run": torch_runner(workbench.model), "runtime": f"PyTorch {torch.__version__} eager"}


def _build_torchscript(workbench: Workbench, batch: int) -> dict[str, Any]:
    import torch

    path = workbench.traced()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), map_location="cpu").eval()
    return {"run": torch_runner(module), "runtime": f"PyTorch {torch.__version__} TorchScript"}


def _build_neo_local(workbench: Workbench, batch: int, precision: str = "fp32") -> dict[str, Any]:
    from helpers.compiler import compile_torchscript

    if precision == "fp32" and batch in workbench.compiled_dirs:
        return _load_precompiled(workbench.compiled_dirs[batch], batch)
    out_dir = workbench.work_dir / f"neo-local-{precision}-b{batch}"
    started = time.perf_counter()
    result = compile_torchscript(workbench.traced(), {INPUT_NAME: workbench.shape(batch)}, out_dir, precision=precision)
    compile_s = time.perf_counter() - started
    workbench.log(
        f"compiled {workbench.spec.name} (batch {batch}, {precision}) with compile_torchscript in "
        f"{compile_s:.1f} s (convert {result.meta['convert_time_s']:.1f} s, "
        f"codegen {result.meta['codegen_time_s']:.1f} s) -> {out_dir}"
    )
    return _compiled_engine(out_dir, str(result.meta["runtime_config"]), compile_s, result.meta["precision"])


def _checked_meta(directory: Path, batch: int) -> dict[str, Any]:
    """An artifact's compiled.meta ({} without one), after checking it was compiled for this batch size."""
    meta_file = directory / "compiled.meta"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    shapes = [item.get("shape") for item in meta.get("inputs", [])]
    if shapes and shapes[0] and shapes[0][0] != batch:
        raise ValueError(f"{directory} was compiled for input shape {shapes[0]}, not batch {batch}.")
    return meta


def _load_precompiled(directory: Path, batch: int) -> dict[str, Any]:
    """An artifact compiled earlier (e.g. by notebook 02/04): load it, check it fits this batch."""
    meta = _checked_meta(directory, batch)
    return _compiled_engine(directory, f"precompiled {directory}", meta.get("compile_time_s"),
                            meta.get("precision", "fp32"))


def _compiled_engine(directory: Path, how: str, compile_s: float | None, precision: str) -> dict[str, Any]:
    """A compiled artifact loaded the DLR way, as an engine."""
    from helpers.runtime import load_compiled_model

    model = load_compiled_model(directory)
    return {"run": lambda x: model.run(x)[0], "runtime": f"{model.runtime}, {how}",
            "compile_s": compile_s, "precision": precision}


def _build_neo_local_bf16(workbench: Workbench, batch: int) -> dict[str, Any]:
    return _build_neo_local(workbench, batch, precision="bf16")


def _build_torch_compile(workbench: Workbench, batch: int) -> dict[str, Any]:
    """torch.compile (inductor, C++ codegen on CPU), frozen weights, one static graph per batch.

    dynamic=False: without it the second batch size makes dynamo recompile a shape-generic graph,
    which would then also serve batch 1 and measure something else.
    """
    import torch
    import torch._inductor.config as inductor_config

    if "torch.compile" not in workbench.cache:
        workbench.cache["torch.compile"] = torch.compile(workbench.model, dynamic=False)
    compiled = workbench.cache["torch.compile"]
    example = torch.zeros(workbench.shape(batch))
    started = time.perf_counter()
    try:
        with inductor_config.patch(freezing=True), torch.inference_mode():
            compiled(example)  # the first call compiles (dynamo trace + inductor C++ build)
    except Exception as exc:
        raise RuntimeError(_torch_compile_failure(exc)) from exc
    compile_s = time.perf_counter() - started
    workbench.log(f"torch.compile (batch {batch}) compiled in {compile_s:.1f} s")
    return {"run": torch_runner(compiled), "runtime": f"PyTorch {torch.__version__} inductor", "compile_s": compile_s}


def _torch_compile_failure(exc: Exception) -> str:
    """Why torch.compile failed, in one line: the inner error, not dynamo's wrapper around it.

    Inductor builds C++ kernels with the compiler in $CXX (default g++); an image without one
    (SageMaker Distribution lists no gcc/gxx) fails with InvalidCxxCompiler inside
    BackendCompilerFailed, whose own first line only says "backend='inductor' raised:".
    """
    inner = getattr(exc, "inner_exception", None) or exc.__cause__ or exc
    if type(inner).__name__ == "InvalidCxxCompiler":
        return ("no C++ compiler here (torch.compile's inductor needs g++, or one named by $CXX); "
                "the other engines do not need one")
    return f"{type(inner).__name__}: {_first_line(inner)}"


def _export_onnx(workbench: Workbench) -> tuple[Path, float, str]:
    """ONNX with a dynamic batch axis: the legacy exporter first (fast), then the dynamo one."""
    import torch

    path = workbench.work_dir / "model.onnx"
    example = torch.zeros(workbench.spec.input_shape)
    axes = {INPUT_NAME: {0: "batch"}, "output0": {0: "batch"}}
    errors = []
    for dynamo in (False, True):
        started = time.perf_counter()
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    workbench.model, (example,), str(path), dynamo=dynamo, input_names=[INPUT_NAME],
                    output_names=["output0"], dynamic_axes=axes,
                )
        except Exception as exc:  # noqa: BLE001 - try the other exporter, report both if all fail
            errors.append(f"dynamo={dynamo}: {type(exc).__name__}: {_first_line(exc)}")
            continue
        exporter = "dynamo" if dynamo else "legacy"
        return path, time.perf_counter() - started, exporter
    raise RuntimeError(f"ONNX export failed ({'; '.join(errors)})")


def _build_onnxruntime(workbench: Workbench, batch: int) -> dict[str, Any]:
    import onnxruntime as ort

    export_s = None  # only the first batch pays for the export: one session serves every batch
    if "onnx" not in workbench.cache:
        path, export_s, exporter = _export_onnx(workbench)
        workbench.log(f"exported ONNX ({exporter} exporter) in {export_s:.1f} s")
        options = ort.SessionOptions()
        options.intra_op_num_threads = physical_cores()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        workbench.cache["onnx"] = (session, exporter)
    session, exporter = workbench.cache["onnx"]
    input_name = session.get_inputs()[0].name
    return {
        "run": lambda x: session.run(None, {input_name: x})[0],
        "runtime": f"onnxruntime {ort.__version__} CPUExecutionProvider ({exporter} export), "
        f"{physical_cores()} intra-op threads",
        "compile_s": export_s,
    }


def _build_openvino_default(workbench: Workbench, batch: int) -> dict[str, Any]:
    """OpenVINO out of the box: same traced file and static shape as the local Neo, no hints.

    The only difference from neo-local is then the runtime configuration, which is the point.
    """
    import openvino as ov

    started = time.perf_counter()
    model = ov.convert_model(str(workbench.traced()), input=[ov.PartialShape(workbench.shape(batch))])
    compiled = ov.Core().compile_model(model, "CPU")
    compile_s = time.perf_counter() - started
    request = compiled.create_infer_request()
    precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # f32, or bf16 on AMX CPUs
    return {
        "run": lambda x: np.array(request.infer({0: x})[0]),
        "runtime": f"OpenVINO {ov.get_version().split('-')[0]} (no hints: {precision}, "
        f"{compiled.get_property('INFERENCE_NUM_THREADS')} threads, "
        f"{compiled.get_property('NUM_STREAMS')} stream(s))",
        "compile_s": compile_s,
        "precision": "bf16" if "bf16" in precision else "fp32",
    }


BUILDERS: dict[str, tuple[str, Callable[[Workbench, int], dict[str, Any]]]] = {
    "eager": ("fp32", _build_eager),
    "torchscript": ("fp32", _build_torchscript),
    "neo-local": ("fp32", _build_neo_local),
    "neo-local-bf16": ("bf16", _build_neo_local_bf16),
    "torch.compile": ("fp32", _build_torch_compile),
    "onnxruntime": ("fp32", _build_onnxruntime),
    "openvino-default": ("fp32", _build_openvino_default),
}
DISPLAY_NAMES = {"neo-local-bf16": "neo-local"}


def build_engine(name: str, workbench: Workbench, batch: int) -> Engine:
    """Set one engine up for one batch size; a failure becomes a skipped engine with its reason."""
    precision, builder = BUILDERS[name]
    engine = Engine(name=DISPLAY_NAMES.get(name, name), precision=precision, batch=batch)
    started = time.perf_counter()
    try:
        built = builder(workbench, batch)
    except Exception as exc:  # noqa: BLE001 - e.g. torch.compile without a C++ compiler
        engine.skipped = f"{type(exc).__name__}: {_first_line(exc)}"
        workbench.log(f"{engine.label} (batch {batch}) skipped: {engine.skipped}")
        return engine
    engine.setup_s = time.perf_counter() - started
    engine.run, engine.runtime = built["run"], built["runtime"]
    engine.compile_s = built.get("compile_s")
    engine.precision = built.get("precision", precision)
    return engine


def select_engines(names: Sequence[str], notes: list[str], *, add_bf16: bool = True) -> list[str]:
    """Validate engine names, put eager first (the reference), handle bf16.

    `add_bf16` appends the bf16 twin of each chosen engine that has one (neo-local -> its bf16
    artifact), last, so reduced-precision rows are listed apart from the fp32 comparison. On a
    CPU without native bf16 every bf16 engine is dropped, and a note says so.
    """
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise ValueError(f"Unknown engine(s) {unknown}: choose from {', '.join(ALL_ENGINES)}.")
    chosen = [REFERENCE_ENGINE, *(n for n in dict.fromkeys(names) if n != REFERENCE_ENGINE)]
    if add_bf16:
        chosen += [BF16_VARIANTS[n] for n in chosen if BF16_VARIANTS.get(n) not in (None, *chosen)]
    wants_bf16 = [n for n in chosen if BUILDERS[n][0] == "bf16"]
    if wants_bf16 and not bf16_supported():
        notes.append("bf16 skipped: CPU has no native bf16")
        chosen = [n for n in chosen if n not in wants_bf16]
    return chosen


def physical_cores() -> int:
    """Physical cores: what PyTorch and OpenVINO use by default, and what we give onnxruntime."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def bf16_supported() -> bool:
    from helpers.compiler import cpu_capabilities

    return "BF16" in cpu_capabilities()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _load_isolated(directory: Path, batch: int) -> dict[str, Any]:
    """An artifact in a process of its own, capped at its target CPU's instruction set (bench/isolated.py)."""
    from helpers.bench.isolated import IsolatedArtifact

    meta = _checked_meta(directory, batch)
    worker = IsolatedArtifact(directory)
    runtime = f"{worker.runtime}, in its own process (each timed call includes a {worker.pipe_round_trip_ms():.2f} ms pipe round trip)"
    return {"run": worker.run, "runtime": runtime, "compile_s": meta.get("compile_time_s"),
            "precision": meta.get("precision", "fp32"), "kernels": worker.kernels, "isa": worker.isa,
            "close": worker.close}


def build_artifact_engine(label: str, directory: Path, batch: int, log: Log, isolated: bool = False) -> Engine:
    """A compiled artifact (any target's, e.g. from notebook 06) as an engine named `label`.

    An artifact that does not load here (code for another CPU, a TorchScript artifact for the
    Neo container, no runtime for it) becomes a skipped engine with the reason, like any engine.
    `isolated` runs it in a process of its own, capped at its target CPU's instruction set.
    """
    engine = Engine(name=label, precision="fp32", batch=batch)
    started = time.perf_counter()
    try:
        built = _load_isolated(directory, batch) if isolated else _load_precompiled(directory, batch)
    except Exception as exc:  # noqa: BLE001 - RuntimeError/OSError/ValueError: it cannot run here
        engine.skipped = f"{type(exc).__name__}: {_first_line(exc)}"
        log(f"{label} (batch {batch}) skipped: {engine.skipped}")
        return engine
    engine.setup_s = time.perf_counter() - started
    engine.kernels, engine.isa, engine.close = built.get("kernels", {}), built.get("isa", ""), built.get("close")
    engine.run, engine.runtime = built["run"], built["runtime"]
    engine.compile_s, engine.precision = built.get("compile_s"), built.get("precision", "fp32")
    return engine

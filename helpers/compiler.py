"""The local Neo's compiler: TorchScript in, an OpenVINO model compiled for this CPU out.

Real Neo picks a compiler per target: Apache TVM for generic CPUs, TensorRT for NVIDIA GPUs,
Treelite for tree models. Untuned TVM 0.27 measured 16-104x *slower* than eager PyTorch on this
workshop's 2-core machines, so for CPU targets the local Neo uses OpenVINO, which follows the same
stack: a graph generator (`openvino.convert_model` reads the TorchScript graph and rebuilds it
from basic operators), graph-level optimisation (constant folding, fusing batch norms into
convolutions), then the CPU plugin's hardware-dependent work (layout choice, kernel selection and
JIT code generation for the instruction set it finds, threading) in `compile_model`.

The artifact is the optimised graph in OpenVINO IR (`compiled.xml` + `compiled.bin`) plus
`compiled.meta`; loading it runs the (fast, ~0.3 s) CPU code generation again on the host that
serves it, with the runtime settings recorded in the meta file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.machine import cpu_model
from helpers.target_cpus import target_cpu

COMPILER_NAME = "openvino"
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}


class CompilationError(ValueError):
    """Compilation failed for a reason the user can fix; the message is the FailureReason."""


@dataclass(frozen=True)
class CompileResult:
    """What a compile produced: the files written and the metadata recorded with them."""

    files: list[Path]
    meta: dict[str, Any]


def runtime_config(precision: str) -> dict[str, str]:
    """The OpenVINO CPU settings for a Neo CPU target: latency-first, one stream, all cores.

    One inference at a time is what an endpoint and the notebooks do, so the LATENCY hint (one
    stream using every physical core) is the right pick; THROUGHPUT would split the cores.
    """
    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": PRECISIONS[precision]}


def cpu_capabilities() -> list[str]:
    """What the OpenVINO CPU plugin can run natively here (e.g. FP32, INT8, BF16)."""
    import openvino as ov

    return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def check_precision(precision: str) -> None:
    """Refuse a precision this CPU cannot run natively, instead of silently using another."""
    if precision not in PRECISIONS:
        raise CompilationError(
            f"ClientError: CompilerOptions: precision_mode {precision!r} is not supported: "
            f"use one of {', '.join(PRECISIONS)}."
        )
    if precision == "bf16" and "BF16" not in cpu_capabilities():
        raise CompilationError(
            "ClientError: CompilerOptions: precision_mode 'bf16' needs a CPU with native bf16 "
            f"(this one offers {', '.join(cpu_capabilities())}): remove the option to compile in fp32."
        )


def compile_torchscript(
    model_file: Path,
    input_shapes: dict[str, list[int]],
    out_dir: Path,
    *,
    target: str = "ml_c5",
    precision: str = "fp32",
    framework_version: str = "2.0",
    options_meta: dict[str, Any] | None = None,
) -> CompileResult:
    """Compile a TorchScript file for this CPU and write compiled.xml/.bin/.meta to `out_dir`.

    `input_shapes` is Neo's DataInputConfig (name -> shape), in the model's argument order.
    `options_meta` (what the job's CompilerOptions asked for and what became of them) is
    recorded in compiled.meta as given. `target_cpu` records the CPU the target names (its
    `mcpu`, else the instance family's: helpers/target_cpus.py), which the runtime caps the
    instruction set to wherever it starts a process for the artifact; `compiled_on` is this CPU.
    Raises CompilationError with a Neo-style reason when the model does not convert.
    """
    import openvino as ov

    check_precision(precision)
    started = time.perf_counter()
    try:
        model = ov.convert_model(str(model_file), input=[ov.PartialShape(s) for s in input_shapes.values()])
    except Exception as exc:  # noqa: BLE001 - any converter failure is the user's model
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CompilationError(f"ClientError: CompilationError: the model could not be converted: {first_line}") from exc
    for port, name in zip(model.inputs, input_shapes, strict=True):
        port.get_tensor().set_names({name})
    output_names = [f"output{i}" for i in range(len(model.outputs))]
    for port, name in zip(model.outputs, output_names, strict=True):
        port.get_tensor().set_names({name})
    convert_s = time.perf_counter() - started

    config = runtime_config(precision)
    compiled = ov.Core().compile_model(model, "CPU", config)  # the CPU code generation itself
    compile_s = time.perf_counter() - started - convert_s

    out_dir.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(out_dir / "compiled.xml"), compress_to_fp16=False)
    meta = {
        "target": target,
        "target_cpu": target_cpu(target, (options_meta or {}).get("compiler_options", {}).get("mcpu")),
        "compiled_on": cpu_model(),
        "compiler": COMPILER_NAME,
        "compiler_version": ov.get_version(),
        "framework": "PYTORCH",
        "framework_version": framework_version,
        "precision": precision,
        "inputs": [{"name": n, "shape": list(s), "dtype": "float32"} for n, s in input_shapes.items()],
        "outputs": [
            {"name": n, "shape": [int(d) for d in port.get_shape()], "dtype": "float32"}
            for n, port in zip(output_names, compiled.outputs, strict=True)
        ],
        "runtime": "openvino",
        "runtime_config": config,
        "compile_time_s": round(time.perf_counter() - started, 3),
        "convert_time_s": round(convert_s, 3),
        "codegen_time_s": round(compile_s, 3),
        "compiled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host_cores": os.cpu_count(),
        **(options_meta or {}),
    }
    (out_dir / "compiled.meta").write_text(json.dumps(meta, indent=2))
    files = sorted(out_dir / name for name in ("compiled.xml", "compiled.bin", "compiled.meta"))
    return CompileResult(files=files, meta=meta)

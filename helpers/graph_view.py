"""Inside the compiler: the graph of a compiled artifact before and after each stage (client side).

Notebook 02 explains Neo's stack as graph generator -> graph-level optimisation ->
hardware-dependent optimisation -> code generation. For a local Neo artifact all stages can be
read back, without re-running the local Neo and within a few seconds:

1. **generated graph**: OpenVINO's PyTorch frontend rebuilds the TorchScript `model.pth` (read
   from the very `model.tar.gz` the job compiled) as a graph of basic operators, with *no*
   optimisation pass applied (`FrontEnd.convert`; `openvino.convert_model` = this + its
   `apply_moc_transformations`, see openvino/tools/ovc/moc_frontend/moc_emit_ir.py);
2. **optimised graph**: the artifact's own `compiled.xml`, what `convert_model` made of it
   (constants folded, shape arithmetic removed, batch norms decomposed into the convolutions);
3. **runtime graph**: what the CPU plugin built for *this* CPU from `compiled.xml`
   (`CompiledModel.get_runtime_model()`): one node per kernel it runs, each node's runtime info
   naming the original operators fused into it (`originalLayersNames`), the kernel
   implementation and instruction set it picked (`primitiveType`, e.g. `brgconv_avx512_dw_f32`),
   memory layout (`outputLayouts`) and precision; with `PERF_COUNT` the plugin's profiling
   counters add each kernel's time. These keys are the CPU plugin's (src/plugins/intel_cpu/src/exec_graph_info.hpp /
   ov::exec_model_info), so the view below reads them with defaults, never assuming one.

Real Neo's DLR artifacts carry their compiled graph too: `compiled_model.json` is TVM's graph
executor JSON (DLR hands it to `tvm::runtime::GraphRuntime::Init`, neo-ai-dlr src/dlr_tvm.cc):
`nodes` with `op` = `null` (input or weight) or `tvm_op` (a compiled, fused kernel whose
`attrs.func_name` lists the fused operators). `dlr_graph_summary` reads that.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.machine import cpu_flags

STAGES = ("generated", "optimised", "runtime")
# Instruction-set names as they appear inside oneDNN/OpenVINO kernel names, and the
# /proc/cpuinfo flag that says a CPU has that instruction set.
# Most specific first: AMX kernels are named e.g. brgconv_avx512_amx_1x1_bf16.
ISA_FLAGS = {"amx": "amx_tile", "avx512": "avx512f", "avx2": "avx2", "sse41": "sse4_1", "sse42": "sse4_2"}
# The CPU plugin's names for nodes that the graph calls otherwise (counted under the graph's name).
RUNTIME_ALIASES = {"Const": "Constant", "Input": "Parameter", "Output": "Result"}


# --------------------------------------------------------------------------- reading the stages
def load_torchscript_from_archive(archive: Path, member: str = "model.pth") -> Any:
    """The TorchScript module packed in a model.tar.gz, loaded from memory (nothing extracted)."""
    import torch

    with tarfile.open(archive) as tar:
        try:
            data = tar.extractfile(member)
        except KeyError:
            data = None
        if data is None:
            raise FileNotFoundError(f"{archive} has no {member}: pass the model.tar.gz notebook 01 built.")
        with warnings.catch_warnings():  # torch 2.9+ deprecates TorchScript; Neo still reads it
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.*")
            return torch.jit.load(io.BytesIO(data.read()), map_location="cpu").eval()


def generated_graph(archive: Path, input_shape: list[int]) -> Any:
    """Stage 1: the PyTorch frontend's graph of `model.pth`, before any optimisation pass."""
    import openvino as ov
    from openvino.frontend import FrontEndManager
    from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder

    decoder = TorchScriptPythonDecoder(load_torchscript_from_archive(archive))
    frontend = FrontEndManager().load_by_framework("pytorch")
    input_model = frontend.load(decoder)  # keeps a reference to `decoder`, which must stay alive
    input_model.set_partial_shape(input_model.get_inputs()[0], ov.PartialShape(input_shape))
    return frontend.convert(input_model)


def optimised_graph(compiled_dir: Path) -> Any:
    """Stage 2: the artifact's `compiled.xml`, i.e. the graph after graph-level optimisation."""
    import openvino as ov

    xml = Path(compiled_dir) / "compiled.xml"
    if not xml.is_file():
        raise FileNotFoundError(f"No compiled.xml in {compiled_dir}: only local Neo artifacts carry an OpenVINO graph.")
    return ov.Core().read_model(str(xml))


@dataclass(frozen=True)
class RuntimeGraph:
    """The CPU plugin's runtime model and each executed node's median time over a few inferences."""

    model: Any
    median_us: dict[str, float]
    settings: dict[str, Any]


def runtime_graph(compiled_dir: Path, config: dict[str, Any] | None = None, runs: int = 10) -> RuntimeGraph:
    """Stage 3: the CPU plugin's runtime model of the artifact, with per-node times.

    Compiles with the settings recorded in compiled.meta (as an endpoint does; `config`
    replaces them) plus `PERF_COUNT`, runs `runs` inferences on zeros and keeps each executed
    node's median time from the plugin's profiling counters: an illustration of where the time
    goes, not a benchmark (notebook 05 measures).
    """
    import openvino as ov

    compiled_dir = Path(compiled_dir)
    meta = json.loads((compiled_dir / "compiled.meta").read_text())
    settings = dict(meta.get("runtime_config", {})) if config is None else dict(config)
    compiled = ov.Core().compile_model(optimised_graph(compiled_dir), "CPU", settings | {"PERF_COUNT": True})
    request = compiled.create_infer_request()
    inputs = {i: np.zeros(list(port.get_shape()), np.float32) for i, port in enumerate(compiled.inputs)}
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        request.infer(inputs)
        for item in request.profiling_info:
            if item.status == ov.ProfilingInfo.Status.EXECUTED:
                times.setdefault(item.node_name, []).append(item.real_time.total_seconds() * 1e6)
    median = {name: float(np.median(values)) for name, values in times.items()}
    return RuntimeGraph(compiled.get_runtime_model(), median, settings)


# --------------------------------------------------------------------------- what the stages hold
def _info(node: Any, key: str, default: str = "") -> str:
    info = node.get_rt_info()
    return info[key].astype(str) if key in info else default


def op_counts(model: Any) -> Counter[str]:
    """Operators by type. Runtime models name their nodes' types in runtime info (`layerType`)."""
    counts: Counter[str] = Counter()
    for node in model.get_ordered_ops():
        layer_type = _info(node, "layerType")
        counts[RUNTIME_ALIASES.get(layer_type, layer_type) or node.get_type_name()] += 1
    return counts


def count_table(stages: dict[str, Counter[str]], top: int | None = None) -> list[dict[str, Any]]:
    """One row per operator type, one column per stage, most frequent first, a TOTAL row last.

    With `top`, the rarer types are summed into one "N other types" row.
    """
    types = sorted({t for counts in stages.values() for t in counts},
                   key=lambda t: (-max(c.get(t, 0) for c in stages.values()), t))
    rows = [{"operator type": t, **{name: counts.get(t, 0) for name, counts in stages.items()}} for t in types]
    if top is not None and len(rows) > top:
        rest = rows[top:]
        rows = rows[:top] + [{"operator type": f"{len(rest)} other types",
                              **{name: sum(r[name] for r in rest) for name in stages}}]
    rows.append({"operator type": "TOTAL", **{name: sum(c.values()) for name, c in stages.items()}})
    return rows


def isa_of(kernel: str) -> str:
    """The instruction set named in a kernel's name ('brgconv_avx512_dw_f32' -> 'avx512'), or ''."""
    return next((isa for isa in ISA_FLAGS if isa in kernel), "")


def runtime_nodes(runtime: RuntimeGraph) -> list[dict[str, Any]]:
    """Each node of a runtime model with the CPU plugin's choices and the originals fused into it."""
    nodes = []
    for node in runtime.model.get_ordered_ops():
        kernel = _info(node, "primitiveType")
        median_us = runtime.median_us.get(node.get_friendly_name())
        originals = [n for n in _info(node, "originalLayersNames").split(",") if n]
        nodes.append({
            "order": int(_info(node, "execOrder", "-1")),
            "name": node.get_friendly_name(),
            "type": _info(node, "layerType") or node.get_type_name(),
            "kernel": kernel,
            "isa": isa_of(kernel),
            "layout": _info(node, "outputLayouts"),
            "precision": _info(node, "runtimePrecision"),
            "fused": originals,
            "executed": median_us is not None,
            "time_us": None if median_us is None else round(median_us),
        })
    return sorted(nodes, key=lambda n: n["order"])


def executed(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes that ran kernels in the last inference (constants and reshapes of weights did not)."""
    return [n for n in nodes if n["executed"] and n["type"] not in ("Input", "Output", "Parameter", "Result")]


def kernel_table(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Executed nodes grouped by the kernel the CPU plugin chose: count, time, an example."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for n in executed(nodes):
        key = (n["type"], n["kernel"], n["isa"] or "-", n["layout"], n["precision"])
        row = groups.setdefault(key, {"layer type": key[0], "kernel": key[1], "ISA": key[2], "layout": key[3],
                                      "precision": key[4], "nodes": 0, "time µs": 0, "e.g. fused from": ", ".join(n["fused"])})
        row["nodes"] += 1
        row["time µs"] += n["time_us"] or 0
    return sorted(groups.values(), key=lambda r: -r["time µs"])


def node_rows(nodes: list[dict[str, Any]], limit: int = 8) -> list[dict[str, Any]]:
    """The first `limit` executed nodes, one row each, for a per-node table."""
    return [{"exec order": n["order"], "layer type": n["type"], "kernel": n["kernel"], "layout": n["layout"],
             "precision": n["precision"], "time µs": n["time_us"], "fused originals": ", ".join(n["fused"])}
            for n in executed(nodes)[:limit]]


def names_of_type(model: Any, op_type: str) -> list[str]:
    """Friendly names of a graph's operators of one type (to find them again after fusion)."""
    return [node.get_friendly_name() for node in model.get_ordered_ops() if node.get_type_name() == op_type]


def fused_into(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """Original operator name -> the layer type of the runtime node that absorbed it."""
    return {original: n["type"] for n in nodes for original in n["fused"]}


NOT_COMPUTING = ("Constant", "Parameter", "Result")  # weights and the graph's ends: data, not computation


def node_totals(stages: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    """Per stage, all its nodes and the ones that compute (without Constant, Parameter, Result): the funnel."""
    return {stage: {"all": sum(counts.values()),
                    "computing": sum(n for op, n in counts.items() if op not in NOT_COMPUTING)}
            for stage, counts in stages.items()}


def _fusion_group(node: dict[str, Any], ops: dict[str, Any], position: dict[str, int]) -> dict[str, Any]:
    """One runtime node with the generated-graph operators it absorbed, in graph order.

    The CPU plugin names a fused node after a node of the *optimised* graph (often the multiply a
    batch norm became), and the convolution itself is not among its originals; the convolution is
    found in the generated graph instead, as the operator feeding the first fused batch norm.
    """
    found = sorted((name for name in node["fused"] if name in ops), key=position.__getitem__)
    norm = next((name for name in found if ops[name].get_type_name() == "BatchNormInference"), None)
    producers = [ops[norm].input_value(0).get_node().get_friendly_name()] if norm else []
    names = [name for name in producers if name in ops] + found
    return {"type": node["type"], "kernel": node["kernel"], "time_us": node["time_us"],
            "before": [ops[name].get_type_name() for name in names]}


def fusion_example(generated: Any, nodes: list[dict[str, Any]], count: int = 3) -> list[dict[str, Any]]:
    """`count` consecutive runtime convolutions, each with the generated-graph operators fused into it.

    Picks the first such run that ends in a residual `Add` (one block showing every kind of
    fusion: batch norm, activation, residual add), else the first whose nodes all absorbed
    something: the data behind notebook 02's before-and-after picture of one block.
    """
    ops = {op.get_friendly_name(): op for op in generated.get_ordered_ops()}
    position = {name: i for i, name in enumerate(ops)}
    groups = [_fusion_group(n, ops, position) for n in executed(nodes) if n["type"] == "Convolution"]
    runs = [groups[i:i + count] for i in range(len(groups) - count + 1)] or [groups]
    fused = [run for run in runs if all(len(g["before"]) > 1 for g in run)]
    with_add = [run for run in fused if "Add" in run[-1]["before"]]
    return (with_add or fused or runs)[0]


def unsupported_isas(nodes: list[dict[str, Any]], flags: frozenset[str] | None = None) -> list[str]:
    """Instruction sets named by executed kernels that this CPU does not report (should be none)."""
    flags = cpu_flags() if flags is None else flags
    return sorted({n["isa"] for n in executed(nodes) if n["isa"] and ISA_FLAGS[n["isa"]] not in flags})


# --------------------------------------------------------------------------- real Neo (DLR) artifacts
def dlr_graph_summary(compiled_dir: Path) -> dict[str, Any] | None:
    """Node and kernel counts from a DLR artifact's compiled_model.json, or None when absent.

    TVM names each fused kernel after the operators inside it (e.g.
    `tvmgen_default_fused_nn_conv2d_add_clip_3`): the numbering and prefix are dropped here so
    kernels with the same fused pattern count together.
    """
    path = Path(compiled_dir) / "compiled_model.json"
    if not path.is_file():
        return None
    graph = json.loads(path.read_text())
    nodes = graph.get("nodes", [])
    ops = Counter(node.get("op", "?") for node in nodes)
    patterns: Counter[str] = Counter()
    for node in nodes:
        if node.get("op") == "tvm_op":
            name = str(node.get("attrs", {}).get("func_name", "?"))
            patterns[re.sub(r"_\d+$", "", name.removeprefix("tvmgen_default_"))] += 1
    return {
        "nodes": len(nodes),
        "inputs and weights (op null)": ops.get("null", 0),
        "compiled kernels (op tvm_op)": ops.get("tvm_op", 0),
        "kernels by fused pattern": [{"fused pattern": p, "kernels": c} for p, c in patterns.most_common()],
    }

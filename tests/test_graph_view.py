"""The compiler stack made visible (notebook 02, section 6): the three graph snapshots and what they prove.

A tiny conv -> batch norm -> ReLU6 network, compiled by the local Neo's own compiler, must show
the same story as EfficientNet-Lite0: batch norms in the generated graph, none as runtime nodes,
each one named on the convolution that absorbed it, kernels for an ISA this CPU has.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from helpers import graph_figures, graph_view

SHAPE = [1, 3, 32, 32]


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory) -> tuple[Path, Path]:
    """(model.tar.gz holding model.pth, compiled directory) for two conv-BN-ReLU6 blocks."""
    import torch

    from helpers.compiler import compile_torchscript
    from helpers.tracing import trace_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU6(),
        torch.nn.Conv2d(8, 8, 3, groups=8, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU6(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4),
    ).eval()
    for module in model.modules():  # non-trivial statistics, so folding them changes the weights
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    root = tmp_path_factory.mktemp("tiny-graph")
    model_file = root / "model.pth"
    trace_model(model, torch.zeros(SHAPE), model_file)
    archive = root / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_file, arcname="model.pth")
    compiled = root / "compiled"
    compile_torchscript(model_file, {"input0": SHAPE}, compiled)
    return archive, compiled


@pytest.mark.slow
def test_batch_norms_and_relu6_are_fused_into_the_convolutions(tiny_artifact):
    archive, compiled = tiny_artifact
    generated = graph_view.generated_graph(archive, SHAPE)
    runtime = graph_view.runtime_graph(compiled, runs=2)
    nodes = graph_view.runtime_nodes(runtime)
    stages = {"generated": graph_view.op_counts(generated),
              "optimised": graph_view.op_counts(graph_view.optimised_graph(compiled)),
              "runtime": graph_view.op_counts(runtime.model)}

    totals = graph_view.node_totals(stages)
    assert totals["runtime"]["computing"] < totals["generated"]["computing"] <= totals["generated"]["all"]
    assert stages["generated"]["BatchNormInference"] == 2 and stages["generated"]["Clamp"] == 2
    assert not [t for t in stages["runtime"] if "BatchNorm" in t or t == "Clamp"]
    fused = graph_view.fused_into(nodes)
    originals = graph_view.names_of_type(generated, "BatchNormInference") + graph_view.names_of_type(generated, "Clamp")
    assert {fused.get(name) for name in originals} == {"Convolution"}


@pytest.mark.slow
def test_the_fusion_example_names_each_kernel_with_the_operators_it_absorbed(tiny_artifact, tmp_path):
    archive, compiled = tiny_artifact
    generated = graph_view.generated_graph(archive, SHAPE)
    nodes = graph_view.runtime_nodes(graph_view.runtime_graph(compiled, runs=1))
    # the tiny network has two convolutions: fewer than the three asked for, so both are shown
    block = graph_view.fusion_example(generated, nodes, count=3)
    assert [group["before"] for group in block] == [["Convolution", "BatchNormInference", "Clamp"],
                                                    ["GroupConvolution", "BatchNormInference", "Clamp"]]
    assert [len(graph_view.fusion_example(generated, nodes, count=1))] == [1]
    assert all(group["type"] == "Convolution" and group["kernel"] for group in block)
    graph_figures.plot_fusion(block, save_to=tmp_path / "fusion.png")
    assert (tmp_path / "fusion.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_runtime_nodes_name_kernels_this_cpu_can_run(tiny_artifact):
    _, compiled = tiny_artifact
    nodes = graph_view.runtime_nodes(graph_view.runtime_graph(compiled, runs=2))
    ran = graph_view.executed(nodes)
    assert [n["type"] for n in ran].count("Convolution") == 2
    assert all(n["kernel"] and n["layout"] and n["precision"] == "f32" for n in ran), ran
    assert all(n["time_us"] is not None for n in ran)
    assert graph_view.unsupported_isas(nodes) == []
    table = graph_view.kernel_table(nodes)
    assert sum(row["nodes"] for row in table) == len(ran)
    assert graph_view.node_rows(nodes, limit=1)[0]["exec order"] == ran[0]["order"]


def test_generated_graph_says_which_archive_lacks_the_model(tmp_path):
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("code/inference.py")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(FileNotFoundError, match="has no model.pth"):
        graph_view.generated_graph(archive, SHAPE)


def test_optimised_graph_needs_a_local_neo_artifact(tmp_path):
    (tmp_path / "compiled.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="only local Neo artifacts"):
        graph_view.optimised_graph(tmp_path)


@pytest.mark.parametrize(("kernel", "isa"), [
    ("brgconv_avx512_dw_f32", "avx512"), ("jit_avx2_1x1_f32", "avx2"), ("brgconv_avx512_amx_1x1_bf16", "amx"),
    ("jit_sse41_f32", "sse41"), ("gemm_mlas_f32", ""), ("unknown_f32", ""),
])
def test_isa_is_read_from_the_kernel_name(kernel, isa):
    assert graph_view.isa_of(kernel) == isa


def test_a_kernel_for_an_isa_the_cpu_lacks_is_reported():
    nodes = [{"type": "Convolution", "executed": True, "isa": "avx512"},
             {"type": "Convolution", "executed": True, "isa": "avx2"},
             {"type": "Const", "executed": False, "isa": "amx"}]
    assert graph_view.unsupported_isas(nodes, frozenset({"avx2", "sse4_1"})) == ["avx512"]
    assert graph_view.unsupported_isas(nodes, frozenset({"avx2", "avx512f"})) == []


def test_count_table_sorts_sums_the_rest_and_totals():
    stages = {"before": Counter({"Constant": 5, "Add": 3, "Clamp": 1, "Pad": 1}), "after": Counter({"Constant": 2})}
    rows = graph_view.count_table(stages, top=2)
    assert [r["operator type"] for r in rows] == ["Constant", "Add", "2 other types", "TOTAL"]
    assert rows[2] == {"operator type": "2 other types", "before": 2, "after": 0}
    assert rows[-1] == {"operator type": "TOTAL", "before": 10, "after": 2}


def test_node_totals_leave_weights_and_the_graph_ends_out_of_the_computing_count():
    stages = {"before": Counter({"Constant": 5, "Parameter": 1, "Result": 1, "Add": 3}), "after": Counter({"Add": 1})}
    assert graph_view.node_totals(stages) == {"before": {"all": 10, "computing": 3}, "after": {"all": 1, "computing": 1}}


@pytest.mark.parametrize("plot", [graph_figures.plot_stage_counts, graph_figures.plot_node_funnel])
def test_plots_write_the_figure(tmp_path, plot):
    stages = {"before": Counter({"Constant": 5, "Add": 3}), "after": Counter({"Constant": 2})}
    plot(stages, save_to=tmp_path / "figures" / "stages.png")
    assert (tmp_path / "figures" / "stages.png").read_bytes()[:4] == b"\x89PNG"


def test_dlr_graph_summary_counts_tvm_kernels_by_fused_pattern(tmp_path):
    assert graph_view.dlr_graph_summary(tmp_path) is None
    # TVM graph executor JSON, as DLR reads it: op "null" = input or weight, "tvm_op" = kernel
    graph = {"nodes": [
        {"op": "null", "name": "input0", "inputs": []},
        {"op": "null", "name": "p0", "inputs": []},
        {"op": "tvm_op", "name": "k0", "inputs": [[0, 0, 0], [1, 0, 0]],
         "attrs": {"func_name": "tvmgen_default_fused_nn_conv2d_add_clip", "num_inputs": "2", "num_outputs": "1"}},
        {"op": "tvm_op", "name": "k1", "inputs": [[2, 0, 0]],
         "attrs": {"func_name": "tvmgen_default_fused_nn_conv2d_add_clip_1", "num_inputs": "1", "num_outputs": "1"}},
        {"op": "tvm_op", "name": "k2", "inputs": [[3, 0, 0]], "attrs": {"func_name": "fused_nn_softmax"}},
    ], "arg_nodes": [0, 1], "heads": [[4, 0, 0]]}
    (tmp_path / "compiled_model.json").write_text(json.dumps(graph))
    summary = graph_view.dlr_graph_summary(tmp_path)
    assert summary["nodes"] == 5
    assert summary["inputs and weights (op null)"] == 2 and summary["compiled kernels (op tvm_op)"] == 3
    assert summary["kernels by fused pattern"] == [{"fused pattern": "fused_nn_conv2d_add_clip", "kernels": 2},
                                                   {"fused pattern": "fused_nn_softmax", "kernels": 1}]

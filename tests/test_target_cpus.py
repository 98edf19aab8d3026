"""Targets that compile differently: the target's CPU in compiled.meta, its instruction-set cap at run time.

The local Neo's artifact gets its machine code when it is loaded, so the target matters through
oneDNN's ONEDNN_MAX_CPU_ISA, set for a process before OpenVINO loads: an endpoint's model server
and notebook 06's per-artifact processes get their artifact's cap. An artifact for a named CPU
(mcpu) with instructions this CPU lacks refuses to load, as a real Neo artifact would stop.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import machine, runtime, target_cpus
from helpers.bench.isolated import IsolatedArtifact
from helpers.local import model_server

SHAPE = [1, 3, 16, 16]


@pytest.mark.parametrize(("target", "mcpu", "isa", "llvm"), [
    ("ml_c4", None, "AVX2_VNNI", "haswell"),
    ("ml_m4", None, "AVX2_VNNI", "haswell"),
    ("ml_c5", None, "AVX512_CORE", "skylake-avx512"),
    ("ml_m5", None, "AVX512_CORE", "skylake-avx512"),
    ("LINUX_X86_64", "sandybridge", "AVX", "sandybridge"),
    ("LINUX_X86_64", "sapphirerapids", "AVX512_CORE_AMX", "sapphirerapids"),
    ("ml_c5", "haswell", "AVX2_VNNI", "haswell"),  # mcpu, when given, names the CPU
])
def test_each_target_records_its_cpu_and_cap(target, mcpu, isa, llvm):
    recorded = target_cpus.target_cpu(target, mcpu)
    assert recorded["isa"] == isa and recorded["mcpu"] == llvm
    assert recorded["from"] == ("mcpu" if mcpu else "instance")


def test_a_target_that_names_no_cpu_is_not_capped():
    assert target_cpus.target_cpu("LINUX_X86_64") is None and target_cpus.target_cpu("sbe_c") is None
    assert target_cpus.isa_environment({"target_cpu": None}) == {}
    assert target_cpus.isa_environment({"target_cpu": "AMD EPYC"}) == {}, "an earlier version's meta: a CPU name string"
    assert target_cpus.isa_environment({"target_cpu": {"isa": "AVX"}}) == {"ONEDNN_MAX_CPU_ISA": "AVX"}


def test_isa_levels_take_the_best_feature():
    assert target_cpus.isa_level(frozenset({"avx2", "avx512f", "avx512_vnni"})) == "AVX512_CORE_VNNI"
    assert target_cpus.isa_level(frozenset({"sse4_1", "avx"})) == "AVX"
    assert target_cpus.isa_level(frozenset()) == "SSE41", "oneDNN's floor"


def test_only_a_named_cpu_this_one_lacks_refuses_to_load(monkeypatch):
    monkeypatch.setattr(machine, "missing_cpu_features", lambda mcpu: ["avx512f"] if mcpu == "skylake-avx512" else [])
    named = {"target_cpu": target_cpus.target_cpu("LINUX_X86_64", "skylake-avx512")}
    problem = target_cpus.load_problem(named)
    assert "mcpu skylake-avx512" in problem and "avx512f" in problem and "illegal instruction" in problem
    assert target_cpus.load_problem({"target_cpu": target_cpus.target_cpu("ml_c5")}) is None, \
        "an instance target runs here: the local endpoint stands in for that instance"
    assert target_cpus.load_problem({"target_cpu": target_cpus.target_cpu("LINUX_X86_64", "sandybridge")}) is None


def test_the_runtime_line_says_whether_this_process_applies_the_cap():
    meta = {"target_cpu": target_cpus.target_cpu("ml_c4")}
    assert target_cpus.running_level(meta, "AVX2_VNNI") == "capped at AVX2_VNNI (haswell)"
    assert "not applied in this process" in target_cpus.running_level(meta, None)
    assert "no target CPU" in target_cpus.running_level({}, None)


@pytest.fixture(scope="module")
def tiny_compiled(tmp_path_factory) -> Path:
    import torch

    from helpers.compiler import compile_torchscript
    from helpers.tracing import trace_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 1),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    root = tmp_path_factory.mktemp("target-cpus")
    trace_model(model, torch.zeros(SHAPE), root / "model.pth")
    compile_torchscript(root / "model.pth", {"input0": SHAPE}, root / "compiled", target="ml_c4")
    return root / "compiled"


def _with_target_cpu(source: Path, destination: Path, recorded: dict | None) -> Path:
    shutil.copytree(source, destination)
    meta = json.loads((destination / "compiled.meta").read_text())
    (destination / "compiled.meta").write_text(json.dumps(meta | {"target_cpu": recorded}))
    return destination


@pytest.mark.slow
def test_the_compiler_records_the_target_cpu_and_this_one(tiny_compiled):
    meta = json.loads((tiny_compiled / "compiled.meta").read_text())
    assert meta["target_cpu"] == target_cpus.target_cpu("ml_c4")
    assert meta["compiled_on"] == machine.cpu_model()
    assert model_server.target_isa(tiny_compiled) == {"ONEDNN_MAX_CPU_ISA": "AVX2_VNNI"}, "the endpoint's cap"


@pytest.mark.slow
def test_an_artifact_for_a_cpu_this_one_lacks_refuses_to_load(tiny_compiled, tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "missing_cpu_features", lambda mcpu: ["amx_tile"])
    bigger = _with_target_cpu(tiny_compiled, tmp_path / "amx", target_cpus.target_cpu("LINUX_X86_64", "sapphirerapids"))
    with pytest.raises(RuntimeError, match="mcpu sapphirerapids.*lacks amx_tile.*illegal instruction"):
        runtime.load_compiled_model(bigger)


@pytest.mark.slow
def test_an_isolated_artifact_runs_at_its_targets_cap_and_stops(tiny_compiled, tmp_path):
    old = _with_target_cpu(tiny_compiled, tmp_path / "sandybridge", target_cpus.target_cpu("LINUX_X86_64", "sandybridge"))
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    expected = runtime.load_compiled_model(old).run(x)[0]
    worker = IsolatedArtifact(old)
    try:
        assert worker.environment == {"ONEDNN_MAX_CPU_ISA": "AVX"}
        assert worker.isa == "capped at AVX (sandybridge)"
        assert worker.kernels and not any("avx2" in k or "avx512" in k for k in worker.kernels), worker.kernels
        np.testing.assert_allclose(worker.run(x), expected, rtol=1e-4, atol=1e-5)
        assert worker.pipe_round_trip_ms() > 0
    finally:
        worker.close()
    assert not worker._process.is_alive() and worker._process.exitcode == 0, "the worker exits when told to"


@pytest.mark.slow
def test_an_isolated_artifact_that_cannot_load_says_why_and_leaves_no_process(tiny_compiled, tmp_path):
    broken = _with_target_cpu(tiny_compiled, tmp_path / "broken", None)
    (broken / "compiled.bin").unlink()
    with pytest.raises(RuntimeError, match="no compiled.bin"):
        IsolatedArtifact(broken)

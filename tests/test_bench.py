"""helpers.bench: statistics, scheduling, target checks, a smoke run and the CLI.

No timing assertions: the numbers depend on the machine; only their shape and arithmetic are tested.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import bench
from helpers.bench import check_targets, engines, speedup, summarize, throughput
from helpers.bench.engines import Engine, select_engines
from helpers.bench.stats import accuracy_chunks
from helpers.bench.timing import CpuCompetition, schedule, time_engines

REQUIRED_KEYS = {
    "engine", "precision", "batch", "median_ms", "p90_ms", "p99_ms", "speedup_vs_eager",
    "max_abs_dprob", "top1_agree", "compile_s", "setup_s", "throughput_ips",
}


# --------------------------------------------------------------------------- arithmetic
def test_summarize_known_data():
    stats = summarize([float(v) for v in range(100, 0, -1)])  # order must not matter
    assert stats["median"] == pytest.approx(50.5)
    assert stats["p90"] == pytest.approx(90.1)  # linear: 1 + 0.90 * 99
    assert stats["p99"] == pytest.approx(99.01)  # 1 + 0.99 * 99
    assert stats["mean"] == pytest.approx(50.5)
    assert stats["min"] == 1.0
    assert stats["n"] == 100


def test_summarize_single_sample_and_empty():
    assert summarize([7.0])["p99"] == 7.0
    with pytest.raises(ValueError, match="No samples"):
        summarize([])


def test_speedup_and_throughput_arithmetic():
    assert speedup(30.0, 10.0) == pytest.approx(3.0)
    assert speedup(10.0, 20.0) == pytest.approx(0.5)
    assert speedup(None, 10.0) is None
    assert throughput(1, 10.0) == pytest.approx(100.0)
    assert throughput(8, 100.0) == pytest.approx(80.0)


def test_accuracy_chunks_tile_the_samples():
    images = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1)
    singles = accuracy_chunks(images, 1)
    assert [c.ravel().tolist() for c in singles] == [[0.0], [1.0], [2.0]]
    (eight,) = accuracy_chunks(images, 8)
    assert eight.ravel().tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    pairs = accuracy_chunks(images, 2)
    assert [c.shape[0] for c in pairs] == [2, 2]


# --------------------------------------------------------------------------- scheduling
def _recording_engine(name: str, calls: list[str]) -> Engine:
    def run(batch: np.ndarray) -> np.ndarray:
        calls.append(name)
        return batch

    return Engine(name=name, precision="fp32", batch=1, run=run)


def test_schedule_shuffles_rounds_and_covers_repeats():
    turns = schedule(["a", "b", "c"], repeats=7, block=3)
    rounds = [turns[i : i + 3] for i in range(0, len(turns), 3)]
    assert [{name for name, _ in r} for r in rounds] == [{"a", "b", "c"}] * 3  # everyone, every round
    assert [size for _, size in turns] == [3] * 6 + [1] * 3  # 3 + 3 + 1 = 7 timed runs each
    assert turns == schedule(["a", "b", "c"], repeats=7, block=3)  # seeded: reproducible
    orders = {tuple(name for name, _ in r) for r in (schedule(["a", "b", "c"], 60, 1)[i : i + 3] for i in range(0, 180, 3))}
    assert len(orders) > 1  # not always the same neighbour


def test_interleaved_timing_counts_and_skips():
    calls: list[str] = []
    engines = [_recording_engine(n, calls) for n in ("a", "b", "c")]
    engines.append(Engine(name="skipped", precision="fp32", batch=1, skipped="no compiler"))
    samples = time_engines(engines, np.zeros(1), repeats=4, warmup=2, block=2, settle_ms=0)

    assert set(samples) == {"a", "b", "c"}
    assert all(len(v) == 4 and all(ms >= 0 for ms in v) for v in samples.values())
    assert calls[:6] == ["a", "a", "b", "b", "c", "c"]  # warm-up per engine first
    assert len(calls) == 6 + 12
    turns = [calls[i] for i in range(6, 18, 2)]
    assert calls[6:] == [name for name in turns for _ in range(2)]  # timed runs come in blocks


def test_settle_runs_are_untimed():
    calls: list[str] = []
    engines = [_recording_engine(n, calls) for n in ("a", "b")]
    samples = time_engines(engines, np.zeros(1), repeats=2, warmup=0, block=2, settle_ms=1)
    assert len(samples["a"]) == len(samples["b"]) == 2
    assert calls.count("a") >= 3 and calls.count("b") >= 3  # at least one settle run per turn


def test_sequential_schedule():
    calls: list[str] = []
    engines = [_recording_engine(n, calls) for n in ("a", "b")]
    time_engines(engines, np.zeros(1), repeats=2, warmup=0, interleave=False, settle_ms=50)
    assert calls == ["a", "a", "b", "b"]  # no settling needed: nothing runs in between


def test_cpu_competition_is_a_share():
    with CpuCompetition() as meter:
        sum(i * i for i in range(200_000))  # our own work must not count as competition
    assert 0.0 <= meter.share <= 1.0


def test_select_engines_puts_eager_first_and_handles_bf16(monkeypatch):
    notes: list[str] = []
    monkeypatch.setattr(engines, "bf16_supported", lambda: False)
    assert select_engines(["neo-local", "neo-local-bf16"], notes) == ["eager", "neo-local"]
    assert notes == ["bf16 skipped: CPU has no native bf16"]

    monkeypatch.setattr(engines, "bf16_supported", lambda: True)
    assert select_engines(["neo-local-bf16", "eager"], []) == ["eager", "neo-local-bf16"]
    with pytest.raises(ValueError, match="Unknown engine"):
        select_engines(["tvm"], [])


def test_bf16_twins_are_added_last_where_the_cpu_has_bf16(monkeypatch):
    monkeypatch.setattr(engines, "bf16_supported", lambda: True)
    assert select_engines(["neo-local", "onnxruntime"], []) == ["eager", "neo-local", "onnxruntime", "neo-local-bf16"]
    assert select_engines(["neo-local"], [], add_bf16=False) == ["eager", "neo-local"]
    assert select_engines(["neo-local", "neo-local-bf16"], []) == ["eager", "neo-local", "neo-local-bf16"]
    notes: list[str] = []
    monkeypatch.setattr(engines, "bf16_supported", lambda: False)
    assert select_engines(["neo-local"], notes) == ["eager", "neo-local"]
    assert notes == ["bf16 skipped: CPU has no native bf16"]


# --------------------------------------------------------------------------- target check
def _row(engine: str, median: float, precision: str = "fp32", **extra) -> dict:
    return {"engine": engine, "precision": precision, "batch": 1, "median_ms": median,
            "speedup_vs_eager": 40.0 / median, "max_abs_dprob": 1e-6, "top1_agree": 1.0, **extra}


def test_check_targets_pass_and_ignore_reduced_precision_peers():
    rows = [_row("eager", 40.0), _row("neo-local", 10.0), _row("onnxruntime", 9.5),
            _row("neo-local", 4.0, precision="bf16")]
    checks = {c["check"].split(" (")[0]: c for c in check_targets(rows)}
    assert checks["speedup vs eager"]["ok"]
    assert checks["vs fastest fp32 peer"]["ok"]  # 10 / 9.5 = 1.05x; the bf16 row is not a peer
    assert "onnxruntime" in next(c["check"] for c in check_targets(rows) if c["check"].startswith("vs"))
    assert checks["max |Δprob| vs eager"]["ok"] and checks["top-1 agreement with eager"]["ok"]


def test_check_targets_fail():
    rows = [_row("eager", 40.0), _row("neo-local", 20.0), _row("openvino-default", 10.0)]
    rows[1].update(max_abs_dprob=0.01, top1_agree=2 / 3)
    assert [c["ok"] for c in check_targets(rows)] == [False, False, False, False]
    assert check_targets([_row("eager", 40.0)])[0]["ok"] is False  # nothing to check


# --------------------------------------------------------------------------- smoke runs
@pytest.fixture(scope="module")
def tiny_model():
    """A 10-class convnet small enough to export and compile in about a second."""
    import torch

    from helpers.models import ModelSpec

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, kernel_size=8, stride=8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    ).eval()
    return model, ModelSpec(name="tiny", pretrained=False)


@pytest.mark.slow
def test_smoke_run_produces_well_formed_rows(tiny_model, tmp_path, monkeypatch):
    model, spec = tiny_model

    def broken(workbench, batch):
        raise RuntimeError("no C++ compiler found\nlong trace")

    monkeypatch.setitem(engines.BUILDERS, "torch.compile", ("fp32", broken))
    result = bench.run_benchmark(
        model=model, spec=spec, engines=["neo-local", "torchscript", "torch.compile"], batches=[1, 2],
        repeats=3, warmup=1, work_dir=tmp_path, log=lambda message: None, bf16=False,
    )
    assert [(r["engine"], r["batch"]) for r in result.rows] == [
        (e, b) for b in (1, 2) for e in ("eager", "neo-local", "torchscript", "torch.compile")
    ]
    for row in result.rows:
        assert set(row) >= REQUIRED_KEYS
        if row["engine"] == "torch.compile":
            assert row["skipped"] == "RuntimeError: no C++ compiler found"
            assert row["median_ms"] is None
            continue
        assert row["skipped"] is None and row["precision"] == "fp32" and row["n"] == 3
        assert 0 < row["median_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["throughput_ips"] == pytest.approx(row["batch"] * 1000 / row["median_ms"], rel=1e-3)
        assert row["max_abs_dprob"] <= 1e-3 and row["top1_agree"] == 1.0
        assert isinstance(row["page_faults_per_run"], int) and row["page_faults_per_run"] >= 0
    eager = [r for r in result.rows if r["engine"] == "eager"]
    assert all(r["speedup_vs_eager"] == 1.0 for r in eager)
    neo = next(r for r in result.rows if r["engine"] == "neo-local" and r["batch"] == 2)
    assert neo["compile_s"] > 0 and "OpenVINO" in neo["runtime"]
    assert set(result.samples) == {"1", "2"} and set(result.samples["1"]) == {"eager", "neo-local", "torchscript"}
    assert result.machine["cores"] and result.parameters["repeats"] == 3

    saved = bench.save_results(result, tmp_path / "out")
    assert json.loads(saved.read_text())["rows"] == json.loads(json.dumps(result.rows))
    assert "skipped: torch.compile" in bench.format_table(result)


def test_notebook_engines_get_a_neo_local_bf16_row_on_a_bf16_cpu(tiny_model, tmp_path, monkeypatch):
    """Notebook 05 names no bf16 engine; on a CPU with native bf16 its table still gets `neo-local (bf16)`.

    This CPU has no bf16 to compile for, so the capability and both neo-local builders are faked
    (they run the eager model); what is tested is which rows the run produces and how they read.
    """
    model, spec = tiny_model

    def fake_neo_local(precision: str):
        def build(workbench, batch):
            return {"run": engines.torch_runner(workbench.model), "runtime": "fake", "precision": precision}
        return build

    monkeypatch.setattr(engines, "bf16_supported", lambda: True)
    monkeypatch.setitem(engines.BUILDERS, "neo-local", ("fp32", fake_neo_local("fp32")))
    monkeypatch.setitem(engines.BUILDERS, "neo-local-bf16", ("bf16", fake_neo_local("bf16")))
    result = bench.run_benchmark(model=model, spec=spec, engines=("eager", "neo-local"), batches=[1], repeats=2,
                                 warmup=0, work_dir=tmp_path, log=lambda message: None)
    assert [(r["engine"], r["precision"]) for r in result.rows] == [
        ("eager", "fp32"), ("neo-local", "fp32"), ("neo-local", "bf16")]
    assert set(result.samples["1"]) == {"eager", "neo-local", "neo-local (bf16)"}
    assert any(line.split()[:2] == ["neo-local", "bf16"] for line in bench.format_table(result).splitlines())
    assert "bf16 skipped" not in " ".join(result.notes)
    assert check_targets(result.rows)[0]["check"] == "speedup vs eager"  # the fp32 row is the one checked


@pytest.mark.slow
def test_precompiled_artifacts_are_reused_and_checked(tiny_model, tmp_path):
    import torch

    from helpers.compiler import compile_torchscript
    from helpers.tracing import trace_model

    model, spec = tiny_model
    traced = tmp_path / "model.pth"
    trace_model(model, torch.zeros(spec.input_shape), traced)
    artifact = tmp_path / "compiled-b1"
    meta = compile_torchscript(traced, {"input0": [1, 3, 224, 224]}, artifact).meta

    result = bench.run_benchmark(
        model=model, spec=spec, engines=["neo-local"], batches=[1, 2], repeats=3, warmup=1,
        work_dir=tmp_path / "bench", traced_file=traced, compiled_dirs={1: artifact, 2: artifact},
        log=lambda message: None, bf16=False,
    )
    neo = {r["batch"]: r for r in result.rows if r["engine"] == "neo-local"}
    assert f"precompiled {artifact}" in neo[1]["runtime"]
    assert neo[1]["compile_s"] == meta["compile_time_s"] and neo[1]["top1_agree"] == 1.0
    assert neo[2]["median_ms"] is None and "not batch 2" in neo[2]["skipped"]
    assert not (tmp_path / "bench" / "neo-local-fp32-b1").exists()  # nothing recompiled


@pytest.mark.slow
def test_artifacts_of_several_targets_are_timed_in_one_run(tiny_model, tmp_path):
    """Notebook 06: one artifact per target, eager timed once; one that cannot run here says why."""
    import torch

    from helpers.compiler import compile_torchscript
    from helpers.tracing import trace_model

    model, spec = tiny_model
    traced = tmp_path / "model.pth"
    trace_model(model, torch.zeros(spec.input_shape), traced)
    for target in ("ml_c5", "LINUX_X86_64"):
        compile_torchscript(traced, {"input0": [1, 3, 224, 224]}, tmp_path / target, target=target)
    (tmp_path / "rasp4b").mkdir()
    (tmp_path / "rasp4b" / "compiled.pt").write_bytes(b"TorchScript for the Neo container")
    result = bench.run_artifacts({t: tmp_path / t for t in ("ml_c5", "LINUX_X86_64", "rasp4b")}, model=model, spec=spec,
                                 repeats=3, warmup=1, log=lambda message: None)
    rows = {r["engine"]: r for r in result.rows}
    assert list(rows) == ["eager", "ml_c5", "LINUX_X86_64", "rasp4b"] and rows["eager"]["speedup_vs_eager"] == 1.0
    for target in ("ml_c5", "LINUX_X86_64"):
        assert rows[target]["n"] == 3 and rows[target]["max_abs_dprob"] <= 1e-3 and "OpenVINO" in rows[target]["runtime"]
    assert rows["rasp4b"]["median_ms"] is None and "Neo PyTorch inference image" in rows["rasp4b"]["skipped"]
    assert set(result.samples["1"]) == {"eager", "ml_c5", "LINUX_X86_64"}


@pytest.mark.slow
def test_cli_json_output(tmp_path, monkeypatch, capsys):
    from helpers.paths import WORK_DIR_ENV

    monkeypatch.delenv(WORK_DIR_ENV, raising=False)
    from helpers import cli

    code = cli.main(["bench", "--json", "--engines", "eager", "neo-local", "--no-bf16", "--batch", "1",
                       "--repeats", "3", "--warmup", "1", "--work-dir", str(tmp_path)])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["engine"] for r in rows] == ["eager", "neo-local"]
    for row in rows:
        assert set(row) >= REQUIRED_KEYS
    assert rows[1]["compile_s"] > 0
    assert (tmp_path / "bench" / "bench.json").is_file()


def test_cli_rejects_unknown_engine(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--engines", "tvm"])
    assert "invalid choice" in capsys.readouterr().err


def test_latency_plots_return_figures_and_save(tmp_path):
    from helpers.plots import latency_distributions, speedup_bars

    samples = {"eager": [40.0, 42.0, 45.0], "neo-local": [4.0, 4.2, 4.1]}  # 10x apart: log scale
    figure = latency_distributions(samples, "batch 1", save_to=tmp_path / "latency.png")
    assert figure.axes[0].get_yscale() == "log"
    labels = [t.get_text() for minor in (False, True) for t in figure.axes[0].get_yticklabels(minor=minor)]
    assert "4" in labels and "40" in labels, labels  # plain milliseconds,
    assert not any("times" in label or "^" in label for label in labels), labels  # not 4 × 10^1
    rows = [_row("eager", 40.0), _row("neo-local", 10.0), _row("neo-local", 4.0, precision="bf16")]
    bars = speedup_bars(rows, save_to=tmp_path / "speedup.png")
    fp32_panel, bf16_panel = bars.axes  # bf16 never stands beside fp32: a panel of its own, titled so
    assert [t.get_text() for t in fp32_panel.get_xticklabels()] == ["eager", "neo-local"]
    assert [t.get_text() for t in bf16_panel.get_xticklabels()] == ["neo-local"]
    assert fp32_panel.get_title() == "fp32" and "not comparable" in bf16_panel.get_title()
    assert (tmp_path / "latency.png").stat().st_size > 0 and (tmp_path / "speedup.png").stat().st_size > 0


def test_torch_compile_without_a_cxx_compiler_is_skipped_saying_so():
    from helpers.bench import engines

    class InvalidCxxCompiler(RuntimeError):  # torch._inductor.exc's, as dynamo wraps it
        pass

    class BackendCompilerFailed(Exception):
        def __init__(self, inner):
            super().__init__("backend='inductor' raised:\nInvalidCxxCompiler: No working C++ compiler found")
            self.inner_exception = inner

    reason = engines._torch_compile_failure(BackendCompilerFailed(InvalidCxxCompiler("no g++")))
    assert reason.startswith("no C++ compiler here") and "$CXX" in reason
    other = engines._torch_compile_failure(BackendCompilerFailed(ValueError("unsupported op")))
    assert other == "ValueError: unsupported op"

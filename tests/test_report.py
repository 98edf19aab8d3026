"""work/report.html: one self-contained file with every executed notebook, the benchmark and the machine.

Built from small executed notebooks (one through the real runner), never from a whole workshop run.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from helpers import report


def _png() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(1, 1))
    axis.plot([0, 1], [0, 1])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _executed(title: str, cells: list, error: bool = False) -> nbformat.NotebookNode:
    """A notebook as nbclient leaves it: execution counts, outputs, timing metadata."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\n\nSome text.")])
    for count, (source, outputs) in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count, outputs=outputs)
        cell.metadata["execution"] = {"iopub.execute_input": f"2026-01-01T10:00:0{count}.000000Z",
                                      "shell.execute_reply": f"2026-01-01T10:00:0{count}.500000Z"}
        notebook.cells.append(cell)
    if error:
        notebook.cells.append(nbformat.v4.new_code_cell("1/0", execution_count=len(cells) + 1, outputs=[
            nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _bench() -> dict:
    from helpers.machine import describe_machine

    rows = [{"engine": "eager", "precision": "fp32", "batch": 1, "median_ms": 36.1, "p90_ms": 41.3, "p99_ms": 47.3,
             "throughput_ips": 27.7, "speedup_vs_eager": 1.0, "max_abs_dprob": 0.0, "top1_agree": 1.0, "n": 50,
             "skipped": None},
            {"engine": "neo-local", "precision": "fp32", "batch": 1, "median_ms": 10.6, "p90_ms": 12.3, "p99_ms": 12.4,
             "throughput_ips": 94.3, "speedup_vs_eager": 3.41, "max_abs_dprob": 7.9e-07, "top1_agree": 1.0, "n": 50,
             "skipped": None},
            {"engine": "neo-local", "precision": "bf16", "batch": 1, "median_ms": None, "skipped": "CPU has no native bf16"}]
    return {"rows": rows, "samples": {}, "machine": describe_machine(),
            "parameters": {"model": "efficientnet_lite0", "repeats": 50, "warmup": 5}, "notes": ["a note"]}


@pytest.fixture
def work(tmp_path) -> Path:
    """A work directory after a run in which 01 and 02 ran, 03 failed, 04 never ran."""
    work = tmp_path / "work"
    executed = work / "executed"
    executed.mkdir(parents=True)
    figure = nbformat.v4.new_output("display_data", data={
        "image/png": base64.b64encode(_png()).decode(), "text/plain": "<Figure>"})
    nbformat.write(_executed("01 · Trace the model", [("print('hi')", [
        nbformat.v4.new_output("stream", name="stdout", text="hi\n")]), ("plot()", [figure])]), executed / "01_trace.ipynb")
    nbformat.write(_executed("02 · Compile", [("x = 1", [])]), executed / "02_compile.ipynb")
    nbformat.write(_executed("03 · Deploy", [("y = 2", [])], error=True), executed / "03_deploy.ipynb")
    figures = work / "figures"
    figures.mkdir()
    (figures / "bench.json").write_text(json.dumps(_bench()))
    (figures / "05_speedup_batch1.png").write_bytes(_png())
    (figures / "05_endpoint_latency.json").write_text(json.dumps({"rows": [
        {"endpoint": "compiled", "round trip median": 24.2, "round trip p90": 30.1}], "samples": {}}))
    return work


LESSONS = ["01_trace.ipynb", "02_compile.ipynb", "03_deploy.ipynb", "04_dlr.ipynb"]


def test_report_holds_every_notebook_a_figure_and_the_benchmark(work):
    path = report.write_report(work, LESSONS)
    assert path == work / "report.html"
    page = path.read_text(encoding="utf-8")
    for title in ("01 · Trace the model", "02 · Compile", "03 · Deploy"):
        assert title in page
    assert "data:image/png;base64," in page
    assert "Benchmark (notebook 05)" in page and "neo-local" in page and "3.41x" in page and "10.6" in page
    assert "Machine the benchmark was measured on" in page and html_escaped(_bench()["machine"]["cpu"]) in page
    assert "skipped: neo-local (bf16, batch 1): CPU has no native bf16" in page and "a note" in page
    assert "Round trip through the endpoints" in page and "24.2" in page


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


def test_report_says_where_a_run_stopped(work):
    page = report.write_report(work, LESSONS).read_text(encoding="utf-8")
    runs = report.collect_runs(work, LESSONS)
    assert [r.state for r in runs] == ["ran", "ran", "failed", "not run"]
    assert runs[2].failure == "cell 2: ZeroDivisionError: division by zero"
    assert runs[0].seconds == pytest.approx(1.5)
    assert "✗ failed" in page and "ZeroDivisionError: division by zero" in page
    assert "2 of 4 notebooks ran to the end" in page


def test_report_loads_nothing_from_the_network(work):
    page = report.write_report(work, LESSONS).read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", page), "no external scripts (MathJax, require.js, widgets)"
    assert not re.search(r"<link[^>]+href=[\"']https?:", page), "no external stylesheets"
    assert not re.search(r"url\([\"']?https?:", page), "no CSS fetched from the network"
    assert "jp-Notebook" in page, "JupyterLab's styles are inlined"


def test_copies_from_an_earlier_run_are_left_out(work):
    old = work / "executed" / "02_compile.ipynb"
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    runs = report.collect_runs(work, LESSONS, since=time.time() - 60)
    assert runs[1].state == "not run" and "earlier run" in runs[1].failure
    assert "02 · Compile" not in report.write_report(work, LESSONS, since=time.time() - 60).read_text(encoding="utf-8")


def test_report_without_benchmark_says_so_and_names_this_machine(tmp_path):
    (tmp_path / "executed").mkdir()
    nbformat.write(_executed("01 · Trace", [("x = 1", [])]), tmp_path / "executed" / "01_trace.ipynb")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "bench.json").write_text("{ half-written")
    page = report.write_report(tmp_path, ["01_trace.ipynb"]).read_text(encoding="utf-8")
    assert "No benchmark results" in page and "Machine this report was written on" in page


@pytest.mark.slow
def test_report_of_a_notebook_the_runner_executed(tmp_path):
    from helpers.runner import execute_notebook

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 01 · A tiny lesson\n\nRuntime: seconds."),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"),
        nbformat.v4.new_code_cell("print('the answer is', 6 * 7)"),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "notebooks" / "01_tiny.ipynb"
    source.parent.mkdir()
    nbformat.write(notebook, source)
    execute_notebook(source, tmp_path / "executed")

    page = report.write_report(tmp_path, ["01_tiny.ipynb"], source_dir=source.parent).read_text(encoding="utf-8")
    assert "01 · A tiny lesson" in page and "the answer is 42" in page
    assert "data:image/png;base64," in page
    assert "1 of 1 notebooks ran to the end" in page and "No benchmark results" in page


@pytest.mark.parametrize("exit_code", [0, 1])
def test_helpers_run_writes_the_report_and_prints_its_path(tmp_path, monkeypatch, capsys, exit_code):
    import helpers.runner
    from helpers.cli import main

    def fake_run(work, only, keep_backend, parameters=None, core_only=False, kernel=None):  # what a run leaves: one executed notebook (or one that failed)
        (work / "executed").mkdir(parents=True)
        nbformat.write(_executed("01 · Trace", [("x = 1", [])], error=bool(exit_code)), work / "executed" / "01_trace.ipynb")
        return exit_code

    monkeypatch.delenv("NEO_WORKSHOP_WORK_DIR", raising=False)
    monkeypatch.setattr(helpers.runner, "run_notebooks", fake_run)
    assert main(["run", "--work-dir", str(tmp_path)]) == exit_code
    assert f"Report (one HTML file, opens offline, share it as is): {tmp_path / 'report.html'}" in capsys.readouterr().out
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "01 · Trace" in page and ("✗ failed" in page) == bool(exit_code)


def test_report_of_the_real_lessons_names_each_by_its_title(tmp_path):
    """The six real lessons (as committed: the report must not need outputs to find a title)."""
    import html
    import shutil

    from helpers.paths import NOTEBOOKS_DIR

    lessons = sorted(path.name for path in NOTEBOOKS_DIR.glob("0*.ipynb"))
    executed = tmp_path / "work" / "executed"
    executed.mkdir(parents=True)
    for name in lessons:
        shutil.copy(NOTEBOOKS_DIR / name, executed / name)
    page = report.write_report(tmp_path / "work", lessons).read_text(encoding="utf-8")
    assert len(lessons) == 6
    for name in lessons:
        title = nbformat.read(NOTEBOOKS_DIR / name, as_version=4).cells[0].source.splitlines()[0].removeprefix("# ")
        assert html.escape(title) in page, f"{name}: {title!r} is not in the report"


def test_report_anchors_are_unique_and_stderr_is_not_an_error_block(work):
    import re

    for name in ("01_trace.ipynb", "02_compile.ipynb"):  # both lessons have the same headings
        notebook = nbformat.read(work / "executed" / name, as_version=4)
        notebook.cells.append(nbformat.v4.new_markdown_cell("## Clean up"))
        notebook.cells.append(nbformat.v4.new_code_cell("p()", outputs=[
            nbformat.v4.new_output("stream", name="stderr", text="progress 1/3\n")]))
        nbformat.write(notebook, work / "executed" / name)
    page = report.write_report(work, LESSONS).read_text(encoding="utf-8")
    ids = re.findall(r'\bid="([^"]+)"', page)
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, f"anchors used twice: {repeated}"
    assert 'id="Clean-up"' in page and 'id="Clean-up-2"' in page and 'href="#Clean-up-2"' in page
    assert 'data-mime-type="application/vnd.jupyter.stderr"] { background: #f5f5f5' in page


def test_a_venv_on_a_base_python_finds_the_base_environments_templates(tmp_path, monkeypatch):
    """SageMaker Studio's kernel is a --system-site-packages venv on the image's Python: nbconvert
    comes from the image, its `lab` template from the image's share/jupyter (make test-studio runs it)."""
    import sys

    from helpers.report import base_template_dirs

    templates = tmp_path / "base" / "share" / "jupyter" / "nbconvert" / "templates"
    templates.mkdir(parents=True)
    monkeypatch.setattr(sys, "base_prefix", str(tmp_path / "base"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    assert base_template_dirs() == [str(templates)]
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "base"))  # not a venv: Jupyter's own paths have it
    assert base_template_dirs() == []


def test_helpers_run_work_dir_wins_over_an_exported_one(tmp_path, monkeypatch):
    import helpers.runner
    from helpers.cli import main

    def fake_run(work, only, keep_backend, parameters=None, core_only=False, kernel=None):
        assert os.environ["NEO_WORKSHOP_WORK_DIR"] == str(tmp_path / "mine")  # what the notebooks' kernels read
        (work / "executed").mkdir(parents=True)
        nbformat.write(_executed("01 · Trace", [("x = 1", [])]), work / "executed" / "01_trace.ipynb")
        return 0

    monkeypatch.setenv("NEO_WORKSHOP_WORK_DIR", str(tmp_path / "exported"))
    monkeypatch.setattr(helpers.runner, "run_notebooks", fake_run)
    assert main(["run", "--work-dir", str(tmp_path / "mine")]) == 0
    assert (tmp_path / "mine" / "report.html").is_file() and not (tmp_path / "exported" / "report.html").exists()

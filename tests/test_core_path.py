"""Skipping the extensions breaks nothing: the core path of a 2-hour slot runs on its own.

A facilitator skips every cell tagged `extension` (issue 18). Statically, no core cell reads a name
that only an extension cell binds; and for real, `python -m helpers run --core-only` executes the
core cells of every notebook in order: on `local` here (with ResNet-18, a model the workshop does
not ship), and on the aws stand-in in the SageMaker Studio kernel in `make test-studio`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_project import (  # the solutions test's name rules
    _bound_names,
    _imported_names,
    _loaded_names,
)

from helpers.runner import drop_extensions

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _is_extension(notebook, cell) -> bool:
    return bool(notebook.metadata.get("extension")) or "extension" in cell.metadata.get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_core_cell_needs_a_name_only_an_extension_binds(path: Path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    core_bound = set().union(*(_bound_names(c.source) | _imported_names(c.source)
                               for c in code if not _is_extension(notebook, c)))
    extension_only: set[str] = set()
    for cell in code:
        if _is_extension(notebook, cell):
            extension_only |= (_bound_names(cell.source) | _imported_names(cell.source)) - core_bound
        else:
            leaked = _loaded_names(cell.source) & extension_only
            assert not leaked, f"{path.name} cell {cell.id} (core) uses {sorted(leaked)}, bound only in an extension"


def test_drop_extensions_keeps_an_extension_notebooks_clean_up():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("a = 1"), nbformat.v4.new_code_cell("b = 2"),
                      nbformat.v4.new_code_cell("cleanup()")]
    notebook.cells[1].metadata["tags"] = ["extension"]
    notebook.cells[2].metadata["tags"] = ["cleanup"]
    assert drop_extensions(notebook) == 1 and [c.source for c in notebook.cells] == ["a = 1", "cleanup()"]
    notebook.metadata["extension"] = True
    assert drop_extensions(notebook) == 1 and [c.source for c in notebook.cells] == ["cleanup()"]


@pytest.mark.slow
def test_the_core_path_runs_alone_on_local_with_a_model_the_workshop_does_not_ship(tmp_path: Path):
    """One run proves two things: the core path runs with every extension skipped, and notebook 01's
    other MODEL_NAME choices carry through (ResNet-18, whose weights the workshop does not ship:
    offline it starts from random weights). The extensions run under nbval with the default model;
    after the compile step nothing in them depends on the model."""
    run = subprocess.run([sys.executable, "-m", "helpers", "run", "--core-only", "--work-dir", str(tmp_path / "work"),
                          "-p", "MODEL_NAME=resnet18", "-p", "REPEATS=5", "-p", "ENDPOINT_REPEATS=5",
                          "-p", "BATCH_SIZES=(1,)", "-p", "ENGINES=('eager', 'torchscript', 'neo-local')"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "extension cell(s) skipped" in run.stdout
    executed = tmp_path / "work" / "executed"
    assert len(list(executed.glob("0*.ipynb"))) == len(NOTEBOOKS), sorted(p.name for p in executed.glob("*"))
    # Offline (CI has no route to download.pytorch.org) the one message an attendee should see is the
    # designed one: torch hub's attempt, then models.py's "RANDOM weights" warning. Nothing else.
    assert_quiet(executed, expected=OFFLINE_WEIGHTS)
    first = nbformat.read(executed / "01_trace.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) and "resnet18" in c.source for c in first.cells)
    assert '"model_name": "resnet18"' in (tmp_path / "work" / "state.json").read_text()


NOISE = re.compile(r"warning|warn\(|CUDA_HOME|Downloading|URLError|ipywidgets", re.IGNORECASE)
# ResNet-18's weights offline: what helpers/models.py says on purpose (and torch hub's try before it).
OFFLINE_WEIGHTS = re.compile(r'Downloading: "https://download\.pytorch\.org/models/resnet18-'
                             r"|UserWarning: Pretrained weights for resnet18 could not be loaded \(.*Using RANDOM weights")


def assert_quiet(executed: Path, expected: re.Pattern | None = None) -> None:
    """The executed notebooks carry no warning text: an attendee reads any of it as a failure.

    `expected` matches the lines a run is meant to print (a designed warning), which are let through.
    """
    noisy = []
    for notebook in sorted(executed.glob("*.ipynb")):
        for cell in nbformat.read(notebook, as_version=4).cells:
            for output in cell.get("outputs", []):
                text = output.get("text") or "".join(output.get("traceback", [])) or output.get("data", {}).get("text/plain", "")
                noisy += [f"{notebook.name} {cell.id}: {line[:160]}" for line in str(text).splitlines()
                          if NOISE.search(line) and not (expected and expected.search(line))]
    assert not noisy, "warning text in the executed notebooks:\n" + "\n".join(noisy)


def test_the_noise_scan_finds_a_warning(tmp_path: Path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
        "stream", name="stderr", text="/x.py:3: FutureWarning: `torch.jit.trace` is deprecated\n")])]
    nbformat.write(notebook, tmp_path / "01_x.ipynb")
    with pytest.raises(AssertionError, match="FutureWarning"):
        assert_quiet(tmp_path)
    assert_quiet(tmp_path / "nothing-here")


def test_the_noise_scan_lets_the_designed_offline_warning_through_and_nothing_else(tmp_path: Path):
    offline = ('Downloading: "https://download.pytorch.org/models/resnet18-f37072fd.pth" to /root/.cache/x.pth\n'
               "/tmp/ipykernel_1/2.py:1: UserWarning: Pretrained weights for resnet18 could not be loaded "
               "(URLError: <urlopen error [Errno -2] Name or service not known>). Using RANDOM weights: latency "
               "figures are valid, predictions are MEANINGLESS.\n  model, spec = models.load_model(MODEL_NAME)\n")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", name="stderr", text=offline)])]
    nbformat.write(notebook, tmp_path / "01_x.ipynb")
    assert_quiet(tmp_path, expected=OFFLINE_WEIGHTS)
    notebook.cells[0].outputs[0].text += "/x.py:9: FutureWarning: something else\n"
    nbformat.write(notebook, tmp_path / "01_x.ipynb")
    with pytest.raises(AssertionError, match="FutureWarning"):
        assert_quiet(tmp_path, expected=OFFLINE_WEIGHTS)

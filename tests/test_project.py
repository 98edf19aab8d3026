"""Project hygiene: notebooks committed clean, conda and pip agree, the headless runner fails loudly."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from helpers.paths import NOTEBOOKS_DIR, REPO_ROOT
from helpers.runner import execute_notebook, workshop_notebooks

NOTEBOOKS = workshop_notebooks()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_and_pythons_as_pyproject():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ (the workshop itself runs on 3.10)")
    import yaml

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pinned = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    conda = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == sorted(pinned), "environment.yml and pyproject.toml must pin the same packages"
    assert f"python{project['requires-python']}" in conda["dependencies"], "same Python versions"
    assert {_name(r) for r in pinned} >= {"torch", "torchvision", "boto3", "moto", "dlr", "openvino"}


def test_there_are_numbered_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == sorted(p.name[:2] for p in NOTEBOOKS)
    assert NOTEBOOKS[0].name == "01_trace.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(notebook["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_the_lesson_shape(path):
    cells = nbformat.read(path, as_version=4).cells
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "Runtime" in cells[0].source, "the title cell states the runtime"
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "## Clean up" in markdown and "## Next" in markdown
    assert "%%writefile" not in "\n".join(c.source for c in cells)


def test_runner_stops_at_the_failing_cell_and_shows_it(tmp_path):
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('boom in cell two')"),
        nbformat.v4.new_code_cell("y = 2"),
        nbformat.v4.new_code_cell("open('cleaned.txt', 'w').write('yes')", metadata={"tags": ["cleanup"]}),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "99_fail.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(CellExecutionError, match="boom in cell two"):
        execute_notebook(path, tmp_path / "executed")
    executed = nbformat.read(tmp_path / "executed" / path.name, as_version=4)
    assert executed.cells[0].execution_count == 1 and not executed.cells[2].get("execution_count")
    assert (tmp_path / "cleaned.txt").read_text() == "yes", "cleanup cells run even after a failure"


def test_notebooks_dir_is_where_runner_looks():
    assert all(p.parent == NOTEBOOKS_DIR for p in NOTEBOOKS)


def test_runner_kernels_do_not_warn_about_unencrypted_tcp(tmp_path, capfd):
    """`python -m helpers run` output stays quiet: the kernels' traffic is encrypted (CurveZMQ)."""
    import zmq

    if not zmq.has("curve"):
        pytest.skip("this pyzmq has no CurveZMQ: the kernel runs unencrypted on loopback and warns")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "99_quiet.ipynb"
    nbformat.write(notebook, path)
    execute_notebook(path, tmp_path / "executed")
    assert nbformat.read(tmp_path / "executed" / path.name, as_version=4).cells[0].outputs[0]["text"] == "42\n"
    assert "without encryption" not in capfd.readouterr().err

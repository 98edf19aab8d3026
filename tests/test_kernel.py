"""The workshop's own kernel: every notebook names it, `make kernel` registers it, a wrong kernel
is told what to do, and headless runs (the runner, nbval) never need it registered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import kernel
from helpers.paths import REPO_ROOT
from helpers.runner import execute_notebook, workshop_notebooks

NOTEBOOKS = workshop_notebooks()
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _import_cell(path: Path) -> str:
    """The notebook's first cell that imports the workshop (right after the parameters cell)."""
    cells = nbformat.read(path, as_version=4).cells
    return next(c.source for c in cells if c.cell_type == "code" and "from helpers" in c.source)


def _make(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # -o: take .venv as installed, so make runs only the target's own command, with this Python.
    return subprocess.run(["make", "-C", str(REPO_ROOT), "-o", ".venv/.installed", *args,
                           f"PY={sys.executable}"], env=env, capture_output=True, text=True, timeout=120)


def _shadowing_kernelspecs(directory: Path) -> Path:
    """A Jupyter path whose `python3` and `neo-workshop` specs point at a Python that does not exist."""
    for name in ("python3", kernel.KERNEL_NAME):
        spec = directory / "kernels" / name
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": ["/nonexistent/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"wrong {name}", "language": "python"}))
    return directory


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_names_the_workshop_kernel(path):
    assert nbformat.read(path, as_version=4).metadata["kernelspec"] == kernel.kernelspec_metadata()


@needs_make
def test_make_kernel_registers_this_environment_under_the_notebooks_kernel_name(tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager

    data = tmp_path / "data"  # what `ipykernel install --user` writes to, instead of ~/.local/share/jupyter
    result = _make("kernel", env=dict(os.environ, JUPYTER_DATA_DIR=str(data)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.name for p in (data / "kernels").iterdir()] == [kernel.KERNEL_NAME], "one kernel, nothing else"
    spec = KernelSpecManager(kernel_dirs=[str(data / "kernels")]).get_kernel_spec(kernel.KERNEL_NAME)
    assert spec.argv[0] == sys.executable, "the kernel runs this environment's Python"
    assert spec.display_name == kernel.DISPLAY_NAME and spec.language == "python"


@needs_make
def test_make_lab_registers_the_same_kernel_inside_the_venv():
    result = _make("-n", "lab", env=dict(os.environ))  # -n: print the commands only
    assert f'ipykernel install --sys-prefix --name {kernel.KERNEL_NAME} --display-name "{kernel.DISPLAY_NAME}"' in result.stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_import_cell_in_a_kernel_without_the_workshop_says_which_kernel_to_pick(path, tmp_path):
    # -I -S: no site-packages, no PYTHONPATH: a bare Python, like a kernel of another environment
    result = subprocess.run([sys.executable, "-I", "-S", "-c", _import_cell(path)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ModuleNotFoundError: No module named ")
    assert f"Pick '{kernel.DISPLAY_NAME}'" in last_line and kernel.MAKE_TARGET in last_line
    assert "During handling" not in result.stderr, "one clear error, not a chain of two"


def test_import_cell_in_a_kernel_with_torch_but_not_the_workshop(tmp_path):
    """SageMaker Studio's own kernel has torch (2.6) but not the workshop."""
    code = "import sys\nsys.modules['helpers'] = None  # not importable\n" + _import_cell(NOTEBOOKS[0])
    result = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "helpers" in result.stderr and kernel.MAKE_TARGET in result.stderr.strip().splitlines()[-1]


def _probe_notebook(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import sys\nassert sys.executable == {sys.executable!r}, sys.executable\nprint(sys.executable)")])
    notebook.metadata["kernelspec"] = kernel.kernelspec_metadata()
    nbformat.write(notebook, path)
    return path


def test_runner_uses_this_python_whatever_kernels_are_registered(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(_shadowing_kernelspecs(tmp_path / "jupyter")))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    execute_notebook(_probe_notebook(tmp_path / "99_probe.ipynb"), tmp_path / "executed")
    executed = nbformat.read(tmp_path / "executed" / "99_probe.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == sys.executable


@pytest.mark.slow
def test_nbval_current_env_runs_a_notebook_naming_an_unregistered_kernel(tmp_path):
    env = dict(os.environ, JUPYTER_PATH=str(_shadowing_kernelspecs(tmp_path / "jupyter")),
               JUPYTER_DATA_DIR=str(tmp_path / "data"))
    _probe_notebook(tmp_path / "probe.ipynb")
    result = subprocess.run([sys.executable, "-m", "pytest", "probe.ipynb", "--nbval-lax", "--nbval-current-env",
                             "-p", "no:cacheprovider", "-q"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout

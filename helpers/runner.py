"""Headless run: execute every notebook in order, as `make workshop` and CI do.

Each notebook runs in a fresh kernel (like nbval), with the notebooks directory as its working
directory and `NEO_WORKSHOP_WORK_DIR` pointing every notebook at the same work directory.
Executed copies go to `<work>/executed/`, figures to `<work>/figures/`. The first failing cell
stops the run with its source and error. The local backend is stopped at the end, so a run
leaves nothing behind (use --keep-backend to keep exploring).

Parameters are overridden the way papermill does it, without changing the notebooks: a cell
tagged `injected-parameters` is inserted right after the cell tagged `parameters`, assigning the
new values (`python -m helpers run -p MODEL_NAME=resnet18`). A notebook gets only the parameters
its own parameters cell defines, so one run can set notebook 01's model and notebook 05's repeats.
"""

from __future__ import annotations

import ast
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.paths import NOTEBOOKS_DIR, WORK_DIR_ENV, work_dir

# Longer than the longest wait a cell makes on AWS (endpoints: about 45 minutes, helpers.endpoints).
# A cell that still runs then is interrupted, and the clean-up cells run as after any failure.
CELL_TIMEOUT_S = 3600


def workshop_notebooks(directory: Path = NOTEBOOKS_DIR, only: list[str] | None = None) -> list[Path]:
    """The numbered lessons (`NN_name.ipynb`), in order, optionally filtered by prefix."""
    notebooks = sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(prefix) for prefix in only)]
    return notebooks


def parameter_value(text: str) -> Any:
    """A `-p NAME=VALUE` value: a Python literal ('5', "('eager',)", 'True') or else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def inject_parameters(notebook: Any, parameters: Mapping[str, Any]) -> list[str]:
    """Insert the `injected-parameters` cell after the `parameters` cell; return the names set.

    Only names the parameters cell assigns are injected; a notebook without a parameters cell,
    or that defines none of them, is left as it is.
    """
    import nbformat

    index = next((i for i, cell in enumerate(notebook.cells)
                  if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", [])), None)
    if index is None or not parameters:
        return []
    defined = {target.id for node in ast.walk(ast.parse(notebook.cells[index].source))
               if isinstance(node, ast.Assign) for target in node.targets if isinstance(target, ast.Name)}
    names = [name for name in parameters if name in defined]
    if names:
        source = "# Parameters injected by `python -m helpers run -p ...`\n" + "\n".join(
            f"{name} = {parameters[name]!r}" for name in names)
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
    return names


def drop_extensions(notebook: Any) -> int:
    """Remove the cells tagged `extension` (all of them in an extension notebook); return how many.

    This is the core path a facilitator teaches in a 2-hour slot: `run --core-only` proves that
    skipping every extension breaks no later cell or notebook.
    """
    whole = bool(notebook.metadata.get("extension"))
    kept = [cell for cell in notebook.cells
            if not (whole and "cleanup" not in cell.metadata.get("tags", []))
            and "extension" not in cell.metadata.get("tags", [])]
    dropped = len(notebook.cells) - len(kept)
    notebook.cells = kept
    return dropped


def execute_notebook(path: Path, executed_dir: Path, parameters: Mapping[str, Any] | None = None,
                     core_only: bool = False, kernel: str | None = None) -> float:
    """Run one notebook in a fresh kernel and save the executed copy; return the seconds taken.

    If a cell fails, the cells tagged `cleanup` after it still run (they delete endpoints and
    other billable resources), then the original error is raised. `core_only` skips extensions.
    The kernel runs this Python, unless `kernel` names a registered kernel spec to run instead
    (as SageMaker Studio runs the one `make kernel` registers: `make test-studio` checks it so).
    """
    import nbformat
    from nbclient import NotebookClient

    from helpers.kernel import current_python_kernel_manager_class

    notebook = nbformat.read(path, as_version=4)
    if core_only and (dropped := drop_extensions(notebook)):
        print(f"  core path: {dropped} extension cell(s) skipped", flush=True)
    if injected := inject_parameters(notebook, parameters or {}):
        print(f"  parameters: {', '.join(f'{name}={parameters[name]!r}' for name in injected)}", flush=True)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name=kernel or "python3", config=kernel_config(),
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(path.parent)}})
    if kernel is None:  # this Python, whichever kernel the notebook names (it need not be registered)
        client.kernel_manager_class = current_python_kernel_manager_class()
    started = time.monotonic()
    try:
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                try:
                    client.execute_cell(cell, index)
                except CELL_FAILURES:  # a failed cell, or one interrupted after CELL_TIMEOUT_S
                    _run_cleanup_cells(client, notebook, after=index)
                    raise
    finally:
        executed_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, executed_dir / path.name)
    return time.monotonic() - started


def _cell_failures() -> tuple[type[Exception], ...]:
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    return (CellExecutionError, CellTimeoutError)  # CellTimeoutError is not a CellExecutionError


CELL_FAILURES = _cell_failures()


def kernel_config() -> Any:
    """Encrypt the kernel's messages (CurveZMQ) where pyzmq can: the kernel then has no reason to
    warn "Kernel is running over TCP without encryption" at the start of every notebook.

    jupyter_client's `transport_encryption = "auto"` provisions the keys when the kernelspec
    declares support (ipykernel's python3 does); without CurveZMQ in pyzmq it would refuse to
    start, so then the kernel runs unencrypted on loopback, as before, and warns.
    """
    import zmq
    from traitlets.config import Config

    return Config({"KernelManager": {"transport_encryption": "auto"}}) if zmq.has("curve") else Config()


def _run_cleanup_cells(client: object, notebook: object, after: int) -> None:
    """Execute the `cleanup`-tagged cells that follow a failed cell, ignoring their own errors."""
    for index, cell in enumerate(notebook.cells):  # type: ignore[attr-defined]
        if index > after and "cleanup" in cell.metadata.get("tags", []):
            print(f"  running clean-up cell {index} after the failure", file=sys.stderr)
            try:
                client.execute_cell(cell, index)  # type: ignore[attr-defined]
            except CELL_FAILURES as exc:
                print(f"  clean-up cell {index} failed too: {exc}", file=sys.stderr)


def run_notebooks(work: Path | None = None, only: list[str] | None = None, keep_backend: bool = False,
                  parameters: Mapping[str, Any] | None = None, core_only: bool = False,
                  kernel: str | None = None) -> int:
    """Execute the notebooks (with `parameters` injected); return a process exit code (0 = all ran)."""
    work = work_dir(work)
    os.environ[WORK_DIR_ENV] = str(work)
    executed_dir = work / "executed"
    notebooks = workshop_notebooks(only=only)
    if not notebooks:
        print(f"No notebooks matched in {NOTEBOOKS_DIR}.", file=sys.stderr)
        return 1
    total = time.monotonic()
    try:
        for path in notebooks:
            print(f"▶ {path.name} ...", flush=True)
            try:
                seconds = execute_notebook(path, executed_dir, parameters, core_only, kernel)
            except CELL_FAILURES as exc:
                print(f"✗ {path.name} failed. The failing cell and its error:\n{exc}", file=sys.stderr)
                print(f"Executed copy (up to the failure): {executed_dir / path.name}", file=sys.stderr)
                print("If this ran against real AWS, check nothing is left billing: "
                      "python -m helpers cleanup --backend aws (then --yes to delete).", file=sys.stderr)
                return 1
            print(f"✓ {path.name} in {seconds:.0f} s", flush=True)
    finally:
        if not keep_backend:
            from helpers.local import control

            control.stop(work)
    print(f"\nAll {len(notebooks)} notebooks ran in {time.monotonic() - total:.0f} s.")
    print(f"Executed notebooks: {executed_dir}\nFigures and results: {work / 'figures'}")
    return 0

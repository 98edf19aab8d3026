"""Small helpers several test modules share (pytest puts tests/ on sys.path: `import support`)."""

from __future__ import annotations

import http.client
import io
import sys
from pathlib import Path

import numpy as np
import psutil
import torch

from helpers.local import model_server
from helpers.local.processes import free_port, stop_process


def ping_status(port: int) -> int | None:
    """A model server's GET /ping status, or None while nothing listens yet."""
    connection = http.client.HTTPConnection(model_server.HOST, port, timeout=5)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def is_gone(process: psutil.Process) -> bool:
    """Exited: gone, or a zombie its parent (the backend) has not reaped yet."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def save_tiny_linear(directory: Path) -> Path:
    """Save a TorchScript `model.pth` computing y = [x0, x1 + x2] into `directory` and return it.

    Small enough to load in milliseconds, distinct enough that a wrong handler shows in the output.
    """
    linear = torch.nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))
    torch.jit.save(torch.jit.script(linear), str(directory / "model.pth"))
    return directory


def npy(array: np.ndarray) -> bytes:
    """`array` as an application/x-npy body."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def load_failure_log(model_dir: Path, log: Path, timeout_s: float = 120) -> str:
    """Start a model server on `model_dir`, require that it exits because the model cannot load,
    and return its log (which says why)."""
    process = model_server.launch(model_dir, free_port(), log)
    try:
        assert process.wait(timeout_s) == model_server.EXIT_MODEL_LOAD_FAILED
    finally:
        stop_process(process)
    return log.read_text()


def toolkit_model_dir(directory: Path, monkeypatch) -> Path:
    """Make `directory` what SageMaker's inference toolkit sees in its worker: the model directory
    as the working directory (TorchServe's), code/ on sys.path, SAGEMAKER_PROGRAM naming
    inference.py, and no `inference` module left over from another test (the caller pops it after)."""
    monkeypatch.chdir(directory)
    monkeypatch.syspath_prepend(str(directory / "code"))
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "inference.py")
    monkeypatch.delitem(sys.modules, "inference", raising=False)
    return directory

"""Session-wide guard for `make test`: nothing the tests or notebooks start may outlive them.

nbval runs each notebook in its own kernel; the notebooks share one local backend through the
work directory's run file. Whatever happens (a failing notebook stops mid-way), the session
ends by stopping that backend, then checks that no workshop server process is left.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SERVER_MODULES = ("helpers.local.server", "helpers.local.model_server")


def workshop_processes() -> list[str]:
    """Command lines of local-backend and model-server processes still alive."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if any(module in cmdline for module in SERVER_MODULES):
            found.append(f"{process.info['pid']}: {cmdline}")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    work = os.environ.get("NEO_WORKSHOP_WORK_DIR")
    if work and Path(work).exists():
        try:
            from helpers.local import control
        except ImportError:
            return
        control.stop(Path(work))
    left = workshop_processes()
    if left:
        print("\nERROR: workshop processes left running after the tests:\n  " + "\n  ".join(left))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

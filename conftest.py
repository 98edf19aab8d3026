"""Session-wide guard for `make test`: nothing the tests or notebooks start may outlive them.

Every process this session starts (local backends, model servers, notebook kernels and what
they start) inherits the `NEO_WORKSHOP_TEST_SESSION` mark, so the check below sees only this
session's processes, never a backend you run by hand. nbval runs each notebook in its own
kernel and the notebooks share one local backend through the work directory's run file:
whatever happens (a notebook stops mid-way), the session ends by stopping that backend, then
fails if any marked server process is still alive (and kills it).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

SERVER_MODULES = ("helpers.local.server", "helpers.local.model_server")
TEST_SESSION_ENV = "NEO_WORKSHOP_TEST_SESSION"


def session_processes(session: str) -> list:
    """Live local-backend and model-server processes carrying this session's mark."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            if (any(module in cmdline for module in SERVER_MODULES)
                    and process.status() != psutil.STATUS_ZOMBIE
                    and process.environ().get(TEST_SESSION_ENV) == session):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def pytest_configure(config: pytest.Config) -> None:
    os.environ[TEST_SESSION_ENV] = f"{os.getpid()}-{time.time_ns()}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    work = os.environ.get("NEO_WORKSHOP_WORK_DIR")
    if work and Path(work).exists():
        from helpers.local import control

        control.stop(Path(work))
    deadline = time.monotonic() + 10  # orphaned model servers notice their parent is gone within a second
    while (left := session_processes(os.environ[TEST_SESSION_ENV])) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        print("\nERROR: processes left running after the tests (now killed):\n  "
              + "\n  ".join(f"{p.pid}: {' '.join(p.cmdline())}" for p in left))
        for process in left:
            process.kill()
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

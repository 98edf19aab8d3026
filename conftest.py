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

# nbval executes the English lessons only. A translated edition (notebooks/<language>/) is built from
# them by `python -m helpers translate build` with the very same code cells, and
# tests/test_translations.py proves it cell by cell, so executing it too would run the same code a
# second time (doubling `make test`). To execute the translations as well (a translator checking a
# rebuilt edition): NEO_WORKSHOP_NBVAL_TRANSLATIONS=1 pytest notebooks --nbval-lax ...
TRANSLATIONS_ENV = "NEO_WORKSHOP_NBVAL_TRANSLATIONS"
collect_ignore_glob = [] if os.environ.get(TRANSLATIONS_ENV) == "1" else ["notebooks/*/*.ipynb"]


def session_processes(session: str) -> list:
    """Live local-backend and model-server processes carrying this session's mark."""
    from helpers.local.processes import module_processes

    return module_processes(SERVER_MODULES, lambda process: process.environ().get(TEST_SESSION_ENV) == session)


def pytest_configure(config: pytest.Config) -> None:
    os.environ[TEST_SESSION_ENV] = f"{os.getpid()}-{time.time_ns()}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from helpers.local import control
    from helpers.polling import wait_until

    work = os.environ.get("NEO_WORKSHOP_WORK_DIR")
    if work and Path(work).exists():
        control.stop(Path(work))
    session_id = os.environ[TEST_SESSION_ENV]
    try:  # orphaned model servers notice their parent is gone within a second
        wait_until(lambda: not session_processes(session_id), timeout_s=10, interval_s=0.2)
        left = []
    except TimeoutError:
        left = session_processes(session_id)
    if left:
        print("\nERROR: processes left running after the tests (now killed):\n  "
              + "\n  ".join(f"{p.pid}: {' '.join(p.cmdline())}" for p in left))
        for process in left:
            process.kill()
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

"""The local backend's processes: how a child starts, where it listens, whether it answers, how it stops.

Two kinds of child process exist: the backend server (`helpers.local.server`, started by
`control`) and one model server per endpoint (`helpers.local.model_server`, started by hosting).
Both are `python -m helpers...` processes that must import this checkout's `helpers` and write
their logs unbuffered; both listen on a free loopback port and are checked over HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from helpers.local_names import HOST
from helpers.paths import REPO_ROOT


def child_env(*layers: Mapping[str, str], drop_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment for a child `python -m helpers...`.

    This process's environment without the variables starting with `drop_prefixes`, then each of
    `layers` in order, then what every child needs: this checkout first on PYTHONPATH (so
    `helpers` imports from here, whatever the working directory) and unbuffered output (so its
    log shows everything up to a crash).
    """
    env = {k: v for k, v in os.environ.items() if not (drop_prefixes and k.startswith(drop_prefixes))}
    for layer in layers:
        env.update(layer)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it; tiny race until the server binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# Loopback never goes through a proxy, even when HTTP_PROXY is set for the outside world.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status `url` answers a GET with, or None when nothing answers there."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when something speaks HTTP at `url`: any status counts, a refused connection does not."""
    return http_status(url, timeout) is not None


def stop_process(process: subprocess.Popen[bytes], timeout: float = 5.0) -> int | None:
    """Terminate, wait, then kill; return the exit code. For children that hold no state worth draining."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode


def module_processes(modules: tuple[str, ...], where: Callable[[Any], bool] = lambda process: True) -> list[Any]:
    """Live `python -m <module>` processes (psutil.Process) for any of `modules`, that `where` accepts.

    Zombies do not count (exited, not yet reaped), nor do processes that vanish or deny access
    while they are inspected. For finding what the backend left running (tests, diagnostics).
    """
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if (any(module in (process.info["cmdline"] or []) for module in modules)
                    and process.status() != psutil.STATUS_ZOMBIE and where(process)):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file ('' if it does not exist yet)."""
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64 * 1024))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:])

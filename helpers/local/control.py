"""Start, find and stop the local AWS backend: the client side of `python -m helpers local ...`.

The backend is one detached process per work directory (`helpers.local.server`). It outlives
the notebook kernel that started it, so every notebook, the CLI and the tests find the same
server through its *run file*, `<work_dir>/local-aws/server.json`, which the server writes
last, once both of its ports answer. A run file alone proves nothing (the machine may have
rebooted), so "running" always means: that pid is our server AND its URL answers.

A backend whose run file is gone (`rm -r work`) stops by itself within a second (see
`helpers.local.server`); until then, and for any backend that cannot, `find_backends` lists every
backend process of this checkout from the process table (psutil), run file or not, and `stop`
finds one for its work directory there too, so `local stop` and `local start` never leave an
orphan running beside a new server.

This is the one module of `helpers.local` the client side imports (`helpers.aws.connect`, the
CLI, the runner, the notebooks' clean-up); tests/test_import_directions.py keeps it that way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers.local.processes import answers, child_env, module_processes, tail
from helpers.local.run_file import RunInfo, log_file, read_run_file, run_file, state_dir
from helpers.local_names import DEFAULT_REGION, dummy_credential_env
from helpers.paths import REPO_ROOT
from helpers.polling import wait_until
from helpers.sagemaker_facts import SDK_USER_CONFIG_ENV, sdk_default_bucket

SERVER_MODULE = "helpers.local.server"
# Real AWS settings must not leak into the backend (it talks only to itself).
AWS_VARIABLES_DROPPED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN")
_spawned: dict[int, subprocess.Popen] = {}


def is_server_process(pid: int, work_dir: Path) -> bool:
    """True when `pid` is a live backend for `work_dir`: not a zombie, a recycled pid or another work dir's."""
    import psutil

    try:
        process = psutil.Process(pid)
        cmdline = process.cmdline()
        return (process.status() != psutil.STATUS_ZOMBIE and SERVER_MODULE in cmdline
                and str(Path(work_dir).resolve()) in cmdline)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


@dataclass(frozen=True)
class BackendProcess:
    """A backend process of this checkout, as the process table shows it."""

    pid: int
    work_dir: Path
    urls: tuple[str, ...]  # from its run file, else the loopback ports it listens on
    has_run_file: bool  # its work directory's run file names this pid (control can find it)

    @property
    def work_dir_exists(self) -> bool:
        return self.work_dir.is_dir()


def _work_dir_of(cmdline: list[str]) -> Path | None:
    if "--work-dir" in cmdline and cmdline.index("--work-dir") + 1 < len(cmdline):
        return Path(cmdline[cmdline.index("--work-dir") + 1])
    return None


def _listening_urls(process: object) -> tuple[str, ...]:
    import psutil

    try:
        connections = process.net_connections(kind="inet")  # type: ignore[attr-defined]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ()
    return tuple(sorted(f"http://{c.laddr.ip}:{c.laddr.port}" for c in connections if c.status == psutil.CONN_LISTEN))


def find_backends(work_dir: Path | None = None) -> list[BackendProcess]:
    """Every live backend process started from this checkout (optionally: for `work_dir`).

    Found by the process table, not by run files: a backend whose work directory was deleted is
    listed too. "This checkout": started by `start` from REPO_ROOT (its working directory).
    """
    wanted = Path(work_dir).resolve() if work_dir is not None else None
    found = []
    for process in module_processes((SERVER_MODULE,), lambda p: Path(p.cwd()) == REPO_ROOT):
        directory = _work_dir_of(process.info["cmdline"] or [])
        if directory is None or (wanted is not None and directory != wanted):
            continue
        recorded = read_run_file(directory)
        own = recorded is not None and recorded.pid == process.pid
        urls = (recorded.endpoint_url, recorded.runtime_url) if own else _listening_urls(process)
        found.append(BackendProcess(process.pid, directory, urls, own))
    return sorted(found, key=lambda b: b.pid)


def status(work_dir: Path) -> RunInfo | None:
    """The running backend for `work_dir`, or None. Read-only: a stale run file is left alone."""
    info = read_run_file(work_dir)
    if info and is_server_process(info.pid, work_dir) and answers(info.endpoint_url):
        return info
    return None


def env_vars(info: RunInfo) -> dict[str, str]:
    """The environment that sends every boto3 client, in any process, to this backend."""
    return {
        "AWS_ENDPOINT_URL": info.endpoint_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": info.runtime_url,
        **dummy_credential_env(),
        "AWS_DEFAULT_REGION": info.region,
        "AWS_REGION": info.region,
    }


SDK_CONFIG_FILE = "sagemaker-sdk-config.yaml"  # in the backend's state dir


def sdk_env_vars(info: RunInfo) -> dict[str, str]:
    """What the SageMaker Python SDK needs beyond `env_vars`: its config file, naming a default bucket.

    SDK v2 (and sagemaker-core's `Session`) look up the account for `default_bucket()` with an STS
    client built with an explicit regional endpoint (`sts_regional_endpoint(region)` in
    sagemaker/utils.py), which beats every AWS_ENDPOINT_URL* variable, so that call would leave
    for the real AWS. A configured default bucket skips it (`Session.default_bucket`; with no
    `_default_bucket_set_by_sdk` it also skips the bucket-owner check). The file is written into
    the work dir's state dir and replaces the user's own SDK config while set, so no VPC, KMS key
    or role meant for real AWS reaches the local backend. It also opts out of the SDK's telemetry
    (`TelemetryOptOut`, sagemaker/telemetry/telemetry_logging.py), which would otherwise ask STS for
    the account and GET an object in AWS's S3 for some calls: nothing leaves for AWS.
    """
    path = info.state_dir / SDK_CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    bucket = sdk_default_bucket(info.region, info.account_id)
    path.write_text(
        "# Written by `python -m helpers local env`: SageMaker Python SDK settings for the local backend.\n"
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
        "      TelemetryOptOut: true\n      Session:\n"
        f"        DefaultS3Bucket: {bucket}\n"
    )
    return {SDK_USER_CONFIG_ENV: str(path)}


@contextlib.contextmanager
def _start_lock(work_dir: Path) -> Iterator[None]:
    """Serialise start() across processes: two notebooks starting at once get one server."""
    path = state_dir(work_dir) / "start.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_tail(work_dir: Path, lines: int = 20) -> str:
    return tail(log_file(work_dir), lines) or "(no log written)"


def start(work_dir: Path, timeout: float = 90, fidelity: str = "local") -> RunInfo:
    """Return the running backend for `work_dir`, starting one if needed (idempotent).

    `fidelity="aws"` starts the stand-in whose outputs take real AWS's shapes (local_names.FIDELITIES).
    """
    work_dir = Path(work_dir).resolve()
    with _start_lock(work_dir):
        if info := status(work_dir):
            if info.fidelity != fidelity:
                raise RuntimeError(f"A local backend with {info.fidelity} fidelity already runs for {work_dir}: "
                                   f"stop it first (python -m helpers local stop --work-dir {work_dir}).")
            return info
        stop(work_dir)  # a server that no longer answers (hung) is replaced, not left behind
        run_file(work_dir).unlink(missing_ok=True)  # stale: its server is gone
        log = log_file(work_dir)
        if log.exists():
            log.replace(log.with_suffix(".log.1"))  # keep the previous run's log (a crash?)
        with log.open("w") as log_handle:
            child = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, "--work-dir", str(work_dir), "--fidelity", fidelity],
                stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT,
                cwd=REPO_ROOT, start_new_session=True,
                env=child_env(dummy_credential_env(), {"AWS_DEFAULT_REGION": DEFAULT_REGION},
                              drop_prefixes=AWS_VARIABLES_DROPPED),
            )
        _spawned[child.pid] = child  # keeps the Popen (and its exit status) until stop() reaps it
        return _wait_until_up(work_dir, child, timeout)


def _wait_until_up(work_dir: Path, child: subprocess.Popen, timeout: float) -> RunInfo:
    def up() -> RunInfo | None:
        if child.poll() is not None:
            raise RuntimeError(
                f"The local backend exited during start-up (exit code {child.returncode}). "
                f"Last lines of {log_file(work_dir)}:\n{log_tail(work_dir)}"
            )
        info = read_run_file(work_dir)
        return info if info and info.pid == child.pid and answers(info.endpoint_url) else None

    try:
        return wait_until(up, timeout_s=timeout, interval_s=0.2)
    except TimeoutError:
        _kill_group(child.pid)
        child.wait(5)
        raise RuntimeError(
            f"The local backend did not answer within {timeout:.0f} s and was stopped. "
            f"Last lines of {log_file(work_dir)}:\n{log_tail(work_dir)}"
        ) from None


def _kill_group(pid: int) -> None:
    """SIGKILL the server's whole process group (it is a session leader: pgid == pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def stop(work_dir: Path, timeout: float = 20) -> bool:
    """Stop the backend for `work_dir` and anything it started; True if one was running.

    The run file's backend, and any other backend process for `work_dir` the process table
    shows (one that lost its run file), so nothing for this work directory keeps running.
    """
    info = read_run_file(work_dir)
    path = run_file(work_dir)
    pids = [info.pid] if info is not None and is_server_process(info.pid, work_dir) else []
    pids += [b.pid for b in find_backends(work_dir) if b.pid not in pids]
    stopped = [pid for pid in pids if _stop_pid(pid, timeout)]
    path.unlink(missing_ok=True)
    return bool(stopped)


def _stop_pid(pid: int, timeout: float) -> bool:
    """SIGTERM one backend (it stops its jobs and model servers), SIGKILL its group if it hangs."""
    import psutil

    try:
        process = psutil.Process(pid)
        children = process.children(recursive=True)
        process.terminate()  # the server stops its jobs and model servers, then exits
    except psutil.NoSuchProcess:  # it exited just now
        return False
    _, alive = psutil.wait_procs([process], timeout=timeout)
    if alive:
        _kill_group(pid)
        psutil.wait_procs(alive, timeout=5)
    leftovers = [c for c in children if c.is_running()]
    for child in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(leftovers, timeout=5)
    if spawned := _spawned.pop(pid, None):
        spawned.poll()
    return True

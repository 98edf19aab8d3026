"""Starting, finding and stopping the local AWS backend (helpers.local.control and .server).

These tests start their own backends in their own work directories (not the session's
`local_backend`), so they can stop them and check that nothing is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlparse

import psutil
import pytest

from helpers.local import control
from helpers.local_names import STATE_DIR_NAME
from helpers.paths import REPO_ROOT, WORK_DIR_ENV

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """(work_dir, RunInfo) of a backend this module owns."""
    work = tmp_path_factory.mktemp("backend-work")
    info = control.start(work)
    try:
        yield work, info
    finally:
        control.stop(work)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m helpers ...` as a user types it (without the test session's work dir override)."""
    base = {k: v for k, v in os.environ.items() if k != WORK_DIR_ENV}
    return subprocess.run([sys.executable, "-m", "helpers", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=base | (env or {}), timeout=120, check=False)


def test_start_is_idempotent(backend) -> None:
    work, info = backend
    again = control.start(work)
    assert again == info
    assert control.status(work) == info


def test_run_file_records_the_server(backend) -> None:
    work, info = backend
    recorded = json.loads((work / STATE_DIR_NAME / "server.json").read_text())
    assert recorded == {
        "pid": info.pid, "endpoint_url": info.endpoint_url, "runtime_url": info.runtime_url,
        "region": "us-east-1", "account_id": "123456789012", "work_dir": str(work.resolve()),
        "started_at": info.started_at, "fidelity": "local",
    }
    assert f"pid {info.pid}" in (work / STATE_DIR_NAME / "server.log").read_text()


def test_env_vars(backend) -> None:
    _, info = backend
    assert control.env_vars(info) == {
        "AWS_ENDPOINT_URL": info.endpoint_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": info.runtime_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


def test_cli_env_prints_export_lines(backend) -> None:
    work, info = backend
    result = run_cli("local", "env", "--work-dir", str(work))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"export AWS_ENDPOINT_URL={info.endpoint_url}" in lines
    assert f"export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={info.runtime_url}" in lines
    config = work.resolve() / STATE_DIR_NAME / "sagemaker-sdk-config.yaml"
    assert f"export SAGEMAKER_USER_CONFIG_OVERRIDE={config}" in lines  # the SageMaker SDK's default bucket
    assert all(line.startswith(("export AWS_", "export SAGEMAKER_USER_CONFIG_OVERRIDE=")) for line in lines)
    assert "DefaultS3Bucket: sagemaker-us-east-1-123456789012" in config.read_text()


def test_cli_status(backend, tmp_path) -> None:
    work, info = backend
    running = run_cli("local", "status", "--work-dir", str(work))
    assert running.returncode == 0 and str(info.pid) in running.stdout
    assert run_cli("local", "status", "--work-dir", str(tmp_path)).returncode == 3


def test_env_vars_send_unchanged_boto3_code_to_the_backend(backend) -> None:
    """The point of env_vars: plain `boto3.client("s3")` in another process reaches local S3."""
    _, info = backend
    code = ("import boto3; s3 = boto3.client('s3'); s3.create_bucket(Bucket='env-check');"
            "print([b['Name'] for b in s3.list_buckets()['Buckets']])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | control.env_vars(info)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "env-check" in result.stdout


def test_ports_are_bound_to_loopback_only(backend) -> None:
    _, info = backend
    process = psutil.Process(info.pid)
    listening = [c.laddr for p in [process, *process.children(recursive=True)]
                 for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert {addr.ip for addr in listening} == {"127.0.0.1"}
    ports = {addr.port for addr in listening}
    assert {urlparse(info.endpoint_url).port, urlparse(info.runtime_url).port} <= ports


def test_runtime_gateway_answers_http(backend) -> None:
    _, info = backend
    assert control.answers(info.runtime_url)


def test_stale_run_file_is_replaced_and_stop_leaves_nothing(tmp_path) -> None:
    """A run file whose pid is not our server (here: this test process) is stale, not running."""
    state = tmp_path / STATE_DIR_NAME
    state.mkdir()
    stale = control.RunInfo(pid=os.getpid(), endpoint_url="http://127.0.0.1:9", runtime_url="http://127.0.0.1:9",
                            work_dir=str(tmp_path))
    (state / "server.json").write_text(stale.to_json())
    assert control.status(tmp_path) is None
    assert (state / "server.json").exists(), "status() must not modify anything"

    info = control.start(tmp_path)
    try:
        assert info.pid != os.getpid()
        server = psutil.Process(info.pid)
        family = [server, *server.children(recursive=True)]
    finally:
        assert control.stop(tmp_path) is True
    gone, alive = psutil.wait_procs(family, timeout=5)
    assert not alive, f"still running after stop: {alive}"
    assert not (state / "server.json").exists()
    assert control.status(tmp_path) is None
    assert control.stop(tmp_path) is False
    log = (state / "server.log").read_text()
    assert "stopped" in log.splitlines()[-1], "the server did not shut down cleanly on SIGTERM"


def test_corrupt_run_file_is_treated_as_not_running(tmp_path) -> None:
    (tmp_path / STATE_DIR_NAME).mkdir()
    (tmp_path / STATE_DIR_NAME / "server.json").write_text("{not json")
    assert control.status(tmp_path) is None
    assert control.stop(tmp_path) is False
    assert not (tmp_path / STATE_DIR_NAME / "server.json").exists()


def test_start_failure_reports_the_log(tmp_path, monkeypatch) -> None:
    """A server that dies at start-up gives an error with its last log lines, not a hang."""
    monkeypatch.setattr(control, "SERVER_MODULE", "helpers.local.no_such_server_module")
    with pytest.raises(RuntimeError, match="exited during start-up") as error:
        control.start(tmp_path, timeout=60)
    assert "no_such_server_module" in str(error.value)
    assert not (tmp_path / STATE_DIR_NAME / "server.json").exists()


def test_stop_when_nothing_runs(tmp_path) -> None:
    assert control.stop(tmp_path) is False
    assert control.status(tmp_path) is None

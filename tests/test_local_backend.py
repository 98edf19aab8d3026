"""Starting, finding and stopping the local AWS backend (helpers.local.control and .server).

These tests start their own backends in their own work directories (not the session's
`local_backend`), so they can stop them and check that nothing is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pytest
import support

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


# --------------------------------------------------------------------------- issue 10: orphans, status, disk
TOY_SCRIPT = "def model_fn(model_dir):\n    return 'toy'\n\n\ndef transform_fn(model, body, content_type, accept):\n" \
             "    return body, 'application/octet-stream'\n"
ROLE = "arn:aws:iam::123456789012:role/neo-workshop-tests"


def clients(info: control.RunInfo) -> tuple[object, object]:
    return info.boto3_client("s3"), info.boto3_client("sagemaker")


def deploy(info: control.RunInfo, name: str, model_url: str | None = None, endpoint: bool = True) -> None:
    """Model (default: a toy entry script), config and (if `endpoint`) endpoint named `name`; wait for InService."""
    import io
    import tarfile

    s3, sm = clients(info)
    if model_url is None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            member = tarfile.TarInfo("code/inference.py")
            member.size = len(TOY_SCRIPT)
            tar.addfile(member, io.BytesIO(TOY_SCRIPT.encode()))
        s3.create_bucket(Bucket="issue10")
        s3.put_object(Bucket="issue10", Key=f"{name}.tar.gz", Body=buffer.getvalue())
        model_url = f"s3://issue10/{name}.tar.gz"
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "i", "ModelDataUrl": model_url})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.c5.xlarge", "InitialInstanceCount": 1}])
    if not endpoint:
        return
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def model_servers(pid: int) -> list[psutil.Process]:
    return [c for c in psutil.Process(pid).children(recursive=True) if "helpers.local.model_server" in c.cmdline()]


def test_removing_the_work_directory_stops_the_backend_and_its_model_servers(tmp_path) -> None:
    """`rm -r work` while the backend runs: it notices (its run file is gone) and stops, servers and all."""
    import shutil

    from helpers.polling import wait_until

    work = tmp_path / "work"
    info = control.start(work)
    try:
        deploy(info, "orphan-check")
        family = [psutil.Process(info.pid), *model_servers(info.pid)]
        assert len(family) == 2
        (listed,) = control.find_backends(work)
        assert (listed.pid, listed.has_run_file, listed.work_dir_exists) == (info.pid, True, True)

        shutil.rmtree(work)

        wait_until(lambda: all(support.is_gone(p) for p in family), timeout_s=30, interval_s=0.1,
                   timeout_message=lambda: f"still running after rm -r work: {[p for p in family if not support.is_gone(p)]}")
        assert control.find_backends(work) == []
        assert control.status(work) is None
    finally:
        control.stop(work)


def test_local_status_lists_every_backend_of_this_checkout(backend, tmp_path) -> None:
    first_work, first = backend
    second_work = tmp_path / "second"
    second = control.start(second_work)
    try:
        found = {b.pid: b for b in control.find_backends()}
        assert {first.pid, second.pid} <= set(found)
        assert found[second.pid].work_dir == second_work.resolve()
        assert found[second.pid].urls == (second.endpoint_url, second.runtime_url)
        result = run_cli("local", "status", "--work-dir", str(second_work))
        assert result.returncode == 0, result.stderr
        for info, work in ((first, first_work), (second, second_work)):
            assert f"pid {info.pid}  {info.endpoint_url}, {info.runtime_url}" in result.stdout
            assert f"work dir {work.resolve()} (exists)" in result.stdout
    finally:
        control.stop(second_work)
    assert second.pid not in {b.pid for b in control.find_backends()}


def test_stop_finds_a_backend_that_lost_its_run_file(tmp_path, monkeypatch) -> None:
    """A backend the run file no longer names (here: the file replaced by a stale one) is still stopped."""
    from helpers.local import run_file

    work = tmp_path / "work"
    info = control.start(work)
    monkeypatch.setattr(control, "read_run_file", lambda _: None)  # as if the run file were unreadable
    assert control.stop(work) is True
    assert not psutil.pid_exists(info.pid) or support.is_gone(psutil.Process(info.pid))
    assert run_file.read_run_file(work) is None


def disk_bytes(state: Path, exclude_logs: bool = True) -> dict[str, int]:
    """Bytes under each top-level entry of local-aws/ (logs left out: they are kept on purpose)."""
    sizes: dict[str, int] = {}
    for path in state.rglob("*"):
        if path.is_file() and not (exclude_logs and ".log" in path.name):
            top = path.relative_to(state).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return sizes


def test_disk_under_local_aws_returns_to_what_a_restart_uses(tmp_path, model_archive) -> None:
    """Compile, deploy, UpdateEndpoint to the compiled model, delete, stop: nothing but logs stays behind."""
    from helpers.neo import wait_for_compilation
    from helpers.polling import wait_until

    work = tmp_path / "work"
    info = control.start(work)
    state = work / STATE_DIR_NAME
    measured = {"started": disk_bytes(state)}
    try:
        s3, sm = clients(info)
        s3.create_bucket(Bucket="issue10")
        s3.upload_file(str(model_archive), "issue10", "model/model.tar.gz")
        sm.create_compilation_job(
            CompilationJobName="disk-check", RoleArn=ROLE, StoppingCondition={"MaxRuntimeInSeconds": 900},
            InputConfig={"S3Uri": "s3://issue10/model/model.tar.gz", "Framework": "PYTORCH",
                         "DataInputConfig": json.dumps({"input0": [1, 3, 224, 224]}), "FrameworkVersion": "2.0"},
            OutputConfig={"S3OutputLocation": "s3://issue10/compiled", "TargetDevice": "ml_c5"})
        job = wait_for_compilation(sm, "disk-check", poll_s=0.5)
        assert job["CompilationJobStatus"] == "COMPLETED", job.get("FailureReason")
        measured["compiled"] = disk_bytes(state)
        deploy(info, "disk-uncompiled", model_url="s3://issue10/model/model.tar.gz")
        measured["endpoint"] = disk_bytes(state)
        deploy(info, "disk-compiled", model_url=job["ModelArtifacts"]["S3ModelArtifacts"], endpoint=False)
        sm.update_endpoint(EndpointName="disk-uncompiled", EndpointConfigName="disk-compiled")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="disk-uncompiled",
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        described = sm.describe_endpoint(EndpointName="disk-uncompiled")
        assert described["EndpointConfigName"] == "disk-compiled", described.get("FailureReason")
        endpoint_dir = state / "endpoints" / "disk-uncompiled"
        wait_until(lambda: not (endpoint_dir / "instance-1").exists(), timeout_s=30, interval_s=0.2,
                   timeout_message="the old model's files are deleted once traffic moved")
        assert sorted(p.name for p in endpoint_dir.iterdir() if p.is_dir()) == ["instance-2"]
        measured["updated"] = disk_bytes(state)
        sm.delete_endpoint(EndpointName="disk-uncompiled")
        measured["deleted"] = disk_bytes(state)
    finally:
        control.stop(work)
    measured["stopped"] = disk_bytes(state)
    print("bytes under local-aws/ (logs excluded):", measured)

    assert measured["compiled"].get("compilation", 0) == 0, "a finished job's scratch files are deleted"
    assert measured["endpoint"]["endpoints"] > 10_000_000  # one extracted model
    assert measured["deleted"].get("endpoints", 0) == 0
    assert set(measured["stopped"]) <= {"start.lock"} and sum(measured["stopped"].values()) == 0
    assert sorted(p.name for p in state.iterdir() if p.is_file()) == ["server.log", "start.lock"]


def test_a_taken_port_does_not_block_local_start(tmp_path, monkeypatch) -> None:
    """The backend used to pick its ports with free_port() and bind later: a port taken in between
    hung moto's start for 30 s. Now both servers bind port 0, so a busy port is never tried."""
    import socket

    from helpers.local import processes, server
    from helpers.local.hosting_service import HostingService
    from helpers.local.run_file import RunInfo

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(processes, "free_port", lambda: busy)  # what the old server would have been told
        moto = server.start_moto(timeout=30)
        runtime = server.start_gateway(HostingService(RunInfo(pid=0, endpoint_url="", runtime_url="",
                                                              work_dir=str(tmp_path))))
        try:
            ports = {moto.get_host_and_port()[1], runtime.server_port}
            assert busy not in ports and len(ports) == 2
            assert all(control.answers(f"http://127.0.0.1:{port}") for port in ports)
        finally:
            runtime.shutdown()
            moto.stop()

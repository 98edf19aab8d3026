"""Local hosting under hostile names, dying model servers and UpdateEndpoint (issue 10, items 1, 3, 5, 6, 7).

The hosting service runs in this process on moto's `mock_aws` (the `mock_aws_server` fixture),
with real model-server processes on toy entry scripts that load in a fraction of a second, and
the runtime gateway's WSGI app served on a loopback port. Invocations go to the gateway over plain
HTTP (inside `mock_aws`, boto3's sagemaker-runtime client would reach moto's own runtime instead);
tests/test_gateway_hosting.py checks the same answers through boto3 against a real backend.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest

from helpers.local import endpoint_instance, gateway
from helpers.local.hosting_service import HostingService
from helpers.local_names import HOST
from helpers.paths import OutsideDirectoryError, inside
from helpers.polling import wait_until

pytestmark = pytest.mark.slow

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/neo-workshop-tests"
BUCKET = "neo-workshop-fault-tests"
WAIT_S = 60

# Answers "<TAG>:<body>"; with a `gate` file in the model dir, a *second* load waits for it, so a
# restart can be held open while a test looks at what the gateway answers meanwhile.
ECHO_SCRIPT = textwrap.dedent('''
    import time
    from pathlib import Path

    TAG = "{tag}"

    def model_fn(model_dir):
        loaded = Path(model_dir) / "loaded-once"
        if loaded.exists() and (Path(model_dir) / "gate").exists():
            while not (Path(model_dir) / "release").exists():
                time.sleep(0.02)
        loaded.touch()
        return TAG

    def transform_fn(model, body, content_type, accept):
        return model.encode() + b":" + body, "application/octet-stream"
''')

# Loads, answers /ping, then dies a moment later: a model server that keeps crashing.
DYING_SCRIPT = textwrap.dedent('''
    import os
    import threading

    def model_fn(model_dir):
        threading.Timer(1.0, lambda: os._exit(7)).start()
        return "doomed"

    def transform_fn(model, body, content_type, accept):
        return body, "application/octet-stream"
''')


@dataclass
class Local:
    hosting: HostingService
    sm: Any
    s3: Any
    gateway_url: str
    work: Path

    @property
    def endpoints_dir(self) -> Path:
        return self.hosting.endpoints_dir

    def upload_script(self, key: str, script: str) -> str:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            data = script.encode()
            info = tarfile.TarInfo("code/inference.py")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())
        return f"s3://{BUCKET}/{key}"

    def model_and_config(self, name: str, model_data_url: str) -> None:
        self.sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                             PrimaryContainer={"Image": "local/toy", "ModelDataUrl": model_data_url})
        self.sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.c5.xlarge",
            "InitialInstanceCount": 1}])

    def deploy(self, name: str, script: str) -> dict:
        self.model_and_config(name, self.upload_script(f"{name}.tar.gz", script))
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        return self.wait(name)

    def wait(self, name: str, leave: tuple[str, ...] = ("Creating", "Updating"), seen: list | None = None) -> dict:
        def settled() -> dict | None:
            described = self.sm.describe_endpoint(EndpointName=name)
            if seen is not None:
                seen.append(described["EndpointStatus"])
            return None if described["EndpointStatus"] in leave else described

        return wait_until(settled, timeout_s=WAIT_S, interval_s=0.05)

    def invoke(self, name: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"{self.gateway_url}/endpoints/{name}/invocations", data=body, method="POST",
                                         headers={"Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def process(self, name: str) -> psutil.Process:
        hosted = self.hosting._endpoints[name]
        assert hosted.serving is not None and hosted.serving.process is not None
        return psutil.Process(hosted.serving.process.pid)


@pytest.fixture
def local(mock_aws_server) -> Iterator[Local]:
    from helpers.local import wsgi_server

    hosting = HostingService(mock_aws_server, startup_timeout_s=30, restart_limit=2, restart_window_s=60).install()
    server = wsgi_server.make_server(gateway.make_app(hosting))
    wsgi_server.serve_in_thread(server, "test-gateway")
    try:  # moto is patched from here on: whatever happens, it is restored and every server stopped
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        yield Local(hosting, boto3.client("sagemaker", region_name=REGION), s3,
                    f"http://{HOST}:{server.server_port}", Path(mock_aws_server.work_dir))
    finally:
        server.shutdown()
        hosting.uninstall()
    assert hosting.running() == []


def refused(call: Any, **kwargs: Any) -> str:
    """The ValidationException message of a control-plane call that must fail."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    assert raised.value.response["Error"]["Code"] == "ValidationException", raised.value.response
    return raised.value.response["Error"]["Message"]


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


# --------------------------------------------------------------------------- item 1: names and paths
@pytest.mark.parametrize("name", ["../../outside", "..", "/tmp/elsewhere", "a/../../outside", "", "a.b"])
def test_endpoint_name_reaching_outside_the_work_directory_is_refused(local, name):
    """A hostile EndpointName is refused before hosting builds a path from it; the target is untouched."""
    victim = local.work.parent / "outside"
    victim.mkdir(exist_ok=True)
    (victim / "precious.txt").write_text("keep me")
    local.model_and_config("ok", local.upload_script("ok.tar.gz", ECHO_SCRIPT.format(tag="ok")))

    message = refused(local.sm.create_endpoint, EndpointName=name, EndpointConfigName="ok")

    assert message.startswith("1 validation error detected: Value") and "at 'endpointName'" in message
    assert "satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}" in message
    assert (victim / "precious.txt").read_text() == "keep me"
    assert local.sm.list_endpoints()["Endpoints"] == []
    assert not local.endpoints_dir.exists() or list(local.endpoints_dir.iterdir()) == []


def test_every_path_built_from_a_name_stays_inside(tmp_path):
    base = tmp_path / "endpoints"
    base.mkdir()
    (base / "link").symlink_to(tmp_path)
    assert inside(base, "fine-name") == base.resolve() / "fine-name"
    for name in ("..", "../x", "/etc", "", ".", "link/escape"):
        with pytest.raises(OutsideDirectoryError, match="does not name a place inside"):
            inside(base, name)


def test_name_patterns_are_botocores():
    """The patterns the local backend enforces are the ones in botocore's SageMaker model."""
    import botocore.session

    from helpers import sagemaker_facts as facts

    model = botocore.session.get_session().get_service_model("sagemaker")
    for shape, pattern in [("EndpointName", facts.ENDPOINT_NAME), ("EndpointConfigName", facts.ENDPOINT_CONFIG_NAME),
                           ("ModelName", facts.MODEL_NAME), ("EntityName", facts.ENTITY_NAME),
                           ("VariantName", facts.ENDPOINT_NAME)]:
        metadata = model.shape_for(shape).metadata
        assert pattern.pattern == f"^{metadata['pattern']}$", shape
        assert metadata["max"] == facts.MAX_NAME_CHARS, shape
    runtime = botocore.session.get_session().get_service_model("sagemaker-runtime")
    body = runtime.operation_model("InvokeEndpoint").input_shape.members["Body"]
    assert body.metadata["max"] == facts.MAX_INVOCATION_BODY_BYTES


# --------------------------------------------------------------------------- item 5: existing names
def test_create_model_with_an_existing_name_is_refused(local):
    first = local.upload_script("first.tar.gz", ECHO_SCRIPT.format(tag="first"))
    local.sm.create_model(ModelName="twice", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "i", "ModelDataUrl": first})
    message = refused(local.sm.create_model, ModelName="twice", ExecutionRoleArn=ROLE,
                      PrimaryContainer={"Image": "i", "ModelDataUrl": "s3://elsewhere/model.tar.gz"})
    assert message == 'Cannot create already existing model "arn:aws:sagemaker:us-east-1:123456789012:model/twice".'
    assert local.sm.describe_model(ModelName="twice")["PrimaryContainer"]["ModelDataUrl"] == first


def test_create_endpoint_config_with_an_existing_name_is_refused(local):
    local.model_and_config("cfg", local.upload_script("cfg.tar.gz", ECHO_SCRIPT.format(tag="cfg")))
    message = refused(local.sm.create_endpoint_config, EndpointConfigName="cfg", ProductionVariants=[{
        "VariantName": "Other", "ModelName": "cfg", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    assert message == ('Cannot create already existing endpoint configuration '
                       '"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/cfg".')
    variants = local.sm.describe_endpoint_config(EndpointConfigName="cfg")["ProductionVariants"]
    assert [v["VariantName"] for v in variants] == ["AllTraffic"]


def test_endpoint_name_with_an_underscore_is_refused(local):
    local.model_and_config("ok", local.upload_script("ok.tar.gz", ECHO_SCRIPT.format(tag="ok")))
    message = refused(local.sm.create_endpoint, EndpointName="my_endpoint", EndpointConfigName="ok")
    assert "Value 'my_endpoint' at 'endpointName' failed to satisfy constraint" in message
    assert "at 'modelName'" in refused(local.sm.create_model, ModelName="my_model", ExecutionRoleArn=ROLE,
                                       PrimaryContainer={"Image": "i"})
    too_long = "a" + "-" * 70 + "b"
    assert "length less than or equal to 63" in refused(local.sm.create_endpoint, EndpointName=too_long,
                                                        EndpointConfigName="ok")


# --------------------------------------------------------------------------- item 6: dead servers
def test_a_dead_model_server_is_restarted(local):
    assert local.deploy("phoenix", ECHO_SCRIPT.format(tag="phoenix"))["EndpointStatus"] == "InService"
    first = local.process("phoenix")
    os.kill(first.pid, signal.SIGKILL)

    def replaced() -> bool:
        route = local.hosting.lookup("phoenix")
        return route is not None and route.ready and local.process("phoenix").pid != first.pid

    wait_until(replaced, timeout_s=WAIT_S, interval_s=0.05)
    status, _, body = local.invoke("phoenix", b"again")
    assert (status, body) == (200, b"phoenix:again")
    assert local.sm.describe_endpoint(EndpointName="phoenix")["EndpointStatus"] == "InService"
    log = (local.endpoints_dir / "phoenix" / "model-server.log").read_text()
    assert f"model server pid {first.pid} exited with code -9: starting it again (1 of 2 restarts" in log


def test_invocations_while_a_model_server_is_replaced_answer_service_unavailable(local):
    local.deploy("held", ECHO_SCRIPT.format(tag="held"))
    hosted = local.hosting._endpoints["held"]
    (hosted.serving.model_dir / "gate").touch()  # the next load waits for "release"
    os.kill(local.process("held").pid, signal.SIGKILL)
    wait_until(lambda: local.hosting.lookup("held").ready is False, timeout_s=WAIT_S, interval_s=0.02)

    status, headers, body = local.invoke("held", b"x")
    assert status == 503 and headers["x-amzn-ErrorType"] == "ServiceUnavailable"
    assert "being replaced: try your call again" in json.loads(body)["Message"]

    (hosted.serving.model_dir / "release").touch()
    wait_until(lambda: local.hosting.lookup("held").ready, timeout_s=WAIT_S, interval_s=0.05)
    assert local.invoke("held", b"x")[2] == b"held:x"


def test_a_model_server_that_keeps_dying_fails_the_endpoint(local):
    assert local.deploy("doomed", DYING_SCRIPT)["EndpointStatus"] == "InService"  # it dies only after /ping
    described = local.wait("doomed", leave=("InService",))
    assert described["EndpointStatus"] == "Failed"
    reason = described["FailureReason"]
    assert "restarted 2 times within 60 s and exited again" in reason and "exit code 7" in reason
    assert "model-server.log" in reason and len(reason) <= 1024
    assert local.hosting.running() == []
    status, _, body = local.invoke("doomed", b"x")
    assert status == 400 and b"not found" in body


# --------------------------------------------------------------------------- item 6: UpdateEndpoint
def test_update_endpoint_switches_traffic_to_the_new_model(local):
    local.deploy("swap", ECHO_SCRIPT.format(tag="v1"))
    old = local.process("swap")
    old_dir = local.hosting._endpoints["swap"].serving.directory
    local.model_and_config("swap-v2", local.upload_script("swap-v2.tar.gz", ECHO_SCRIPT.format(tag="v2")))

    arn = local.sm.update_endpoint(EndpointName="swap", EndpointConfigName="swap-v2")["EndpointArn"]
    statuses: list[str] = []
    described = local.wait("swap", seen=statuses)

    assert arn.endswith(":endpoint/swap")
    assert "Updating" in statuses and described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "swap-v2" and "FailureReason" not in described
    assert local.invoke("swap", b"hi")[2] == b"v2:hi"
    # then the old instance is stopped and its model data deleted
    wait_until(lambda: not old_dir.exists(), timeout_s=10, interval_s=0.05)
    assert not old.is_running() or old.status() == psutil.STATUS_ZOMBIE


def test_a_failed_update_keeps_the_old_model_serving(local):
    local.deploy("steady", ECHO_SCRIPT.format(tag="v1"))
    local.model_and_config("steady-broken", f"s3://{BUCKET}/no-such-model.tar.gz")

    local.sm.update_endpoint(EndpointName="steady", EndpointConfigName="steady-broken")
    described = local.wait("steady")

    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == "steady"
    assert "Updating to endpoint configuration steady-broken failed" in described["FailureReason"]
    assert "no-such-model.tar.gz" in described["FailureReason"]
    assert local.invoke("steady", b"still")[2] == b"v1:still"
    assert len(local.hosting.running()) == 1


def test_update_endpoint_refuses_what_sagemaker_refuses(local):
    local.model_and_config("slow", local.upload_script("slow.tar.gz", ECHO_SCRIPT.format(tag="slow")))
    assert "Could not find endpoint" in refused(local.sm.update_endpoint, EndpointName="nobody",
                                                EndpointConfigName="slow")
    local.deploy("busy", ECHO_SCRIPT.format(tag="busy"))
    assert "Could not find endpoint configuration" in refused(local.sm.update_endpoint, EndpointName="busy",
                                                              EndpointConfigName="nothing-like-it")
    local.sm.update_endpoint(EndpointName="busy", EndpointConfigName="slow")
    assert refused(local.sm.update_endpoint, EndpointName="busy", EndpointConfigName="slow").startswith(
        'Cannot update in-progress endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/busy"')
    assert local.wait("busy")["EndpointConfigName"] == "slow"


# --------------------------------------------------------------------------- item 3: disk
def test_delete_endpoint_deletes_its_model_data(local):
    before = tree_bytes(local.endpoints_dir)
    local.deploy("tidy", ECHO_SCRIPT.format(tag="tidy"))
    directory = local.endpoints_dir / "tidy"
    assert [p.name for p in directory.iterdir() if p.is_dir()] == ["instance-1"]
    assert not list(directory.rglob("model.tar.gz")), "the downloaded archive is deleted once extracted"

    local.sm.delete_endpoint(EndpointName="tidy")

    assert sorted(p.name for p in directory.iterdir()) == ["model-server.log"]
    assert tree_bytes(local.endpoints_dir) - before == (directory / "model-server.log").stat().st_size


# --------------------------------------------------------------------------- item 7: ports
def test_a_port_taken_before_the_model_server_binds_is_retried_on_another(tmp_path, monkeypatch):
    import socket

    (tmp_path / "instance" / "model" / "code").mkdir(parents=True)
    (tmp_path / "instance" / "model" / "code" / "inference.py").write_text(ECHO_SCRIPT.format(tag="port"))
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy, endpoint_instance.free_port()])
        monkeypatch.setattr(endpoint_instance, "free_port", lambda: next(ports))
        instance = endpoint_instance.Instance("ports", "cfg", "AllTraffic", tmp_path / "instance",
                                              tmp_path / "model-server.log")
        try:
            instance.start(timeout_s=30)
            assert instance.port != busy and instance.alive()
        finally:
            instance.stop()
    assert f"port {busy} is already in use" in (tmp_path / "model-server.log").read_text()

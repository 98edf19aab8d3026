"""Local hosting end to end: boto3 -> local SageMaker (moto + the hosting service) -> model server -> gateway.

Everything goes through the session's `local_backend` and real boto3 clients, as a notebook
would: endpoints pass through Creating, the runtime raises SageMaker's own exceptions, and
deleting an endpoint leaves no process behind.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import psutil
import pytest
import support
from botocore.config import Config
from PIL import Image

from helpers.container.inference import preprocess_image
from helpers.local.processes import module_processes
from helpers.local_names import DUMMY_CREDENTIALS, GATEWAY_MS_HEADER, STATE_DIR_NAME
from helpers.packaging import add_code_dir, read_archive_config
from helpers.paths import DATA_DIR
from helpers.polling import wait_until
from helpers.sagemaker_facts import MAX_INVOCATION_BODY_BYTES

pytestmark = pytest.mark.slow

CAT_JPEG = DATA_DIR / "chelsea.jpg"
BUCKET = "neo-workshop-hosting-tests"
ROLE = "arn:aws:iam::123456789012:role/neo-workshop-tests"
WAIT_S = 180


@dataclass
class Aws:
    info: Any
    s3: Any
    sm: Any
    runtime: Any

    @property
    def endpoints_dir(self) -> Path:
        return Path(self.info.work_dir) / STATE_DIR_NAME / "endpoints"


@pytest.fixture(scope="module")
def aws(local_backend) -> Aws:
    credentials = {"region_name": local_backend.region, **DUMMY_CREDENTIALS}
    control_plane = {"endpoint_url": local_backend.endpoint_url, **credentials}
    clients = Aws(
        info=local_backend,
        s3=boto3.client("s3", **control_plane),
        sm=boto3.client("sagemaker", **control_plane),
        runtime=boto3.client("sagemaker-runtime", endpoint_url=local_backend.runtime_url,
                             config=Config(read_timeout=120), **credentials),
    )
    clients.s3.create_bucket(Bucket=BUCKET)
    return clients


def upload(aws: Aws, key: str, data: bytes | Path) -> str:
    body = data.read_bytes() if isinstance(data, Path) else data
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


@pytest.fixture(scope="module")
def model_url(aws, model_archive) -> str:
    return upload(aws, "hosting/model.tar.gz", model_archive)


def create_endpoint(aws: Aws, name: str, model_data_url: str) -> None:
    """Model + config + endpoint named after `name` (model and config are created once)."""
    models = {m["ModelName"] for m in aws.sm.list_models()["Models"]}
    if name not in models:
        aws.sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": "local/pytorch-inference", "ModelDataUrl": model_data_url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
        aws.sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.c5.xlarge",
            "InitialInstanceCount": 1}])
    aws.sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def wait_endpoint(aws: Aws, name: str) -> tuple[list[str], dict]:
    """Poll DescribeEndpoint until it leaves Creating; return every status seen and the last answer."""
    statuses: list[str] = []

    def created() -> dict | None:
        described = aws.sm.describe_endpoint(EndpointName=name)
        statuses.append(described["EndpointStatus"])
        return described if statuses[-1] != "Creating" else None

    return statuses, wait_until(created, timeout_s=WAIT_S, interval_s=0.25,
                                timeout_message=f"endpoint {name} still Creating after {WAIT_S} s")


def deploy(aws: Aws, name: str, model_data_url: str) -> tuple[list[str], dict]:
    create_endpoint(aws, name, model_data_url)
    return wait_endpoint(aws, name)


def server_processes(aws: Aws, name: str) -> list[psutil.Process]:
    """Live model servers of endpoint `name` (hosting runs each in its endpoint directory)."""
    directory = str(aws.endpoints_dir / name)
    return module_processes(("helpers.local.model_server",), lambda process: process.cwd() == directory)


def delete_endpoint(aws: Aws, name: str) -> None:
    aws.sm.delete_endpoint(EndpointName=name)
    assert server_processes(aws, name) == []


@pytest.fixture(scope="module")
def endpoint(aws, model_url) -> Any:
    name = "hosting-cat"
    statuses, described = deploy(aws, name, model_url)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    yield name, statuses
    delete_endpoint(aws, name)


def invoke(aws: Aws, name: str, body: bytes, content_type: str, **kwargs: Any) -> dict:
    return aws.runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type, **kwargs)


def top1(response: dict) -> str:
    return json.loads(response["Body"].read())["predictions"][0][0]["label"]


def is_cat(label: str) -> bool:
    return "cat" in label or label == "tabby"


# --------------------------------------------------------------------------- happy path
def test_endpoint_passes_through_creating(endpoint):
    _, statuses = endpoint
    assert statuses[0] == "Creating" and statuses[-1] == "InService"


def test_jpeg_round_trip_gives_the_cat(aws, endpoint):
    name, _ = endpoint
    response = invoke(aws, name, CAT_JPEG.read_bytes(), "application/x-image")
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert float(headers[GATEWAY_MS_HEADER]) >= 0
    assert response["ResponseMetadata"]["RequestId"]
    assert is_cat(top1(response))


def test_npy_round_trip_is_binary_intact(aws, endpoint, model_archive, assert_npy_says_cat):
    name, _ = endpoint
    config = read_archive_config(model_archive)
    with Image.open(CAT_JPEG) as image:
        batch = preprocess_image(image, config)[None]
    buffer = io.BytesIO()
    np.save(buffer, batch)
    response = invoke(aws, name, buffer.getvalue(), "application/x-npy", Accept="application/x-npy")
    assert response["ContentType"] == "application/x-npy"
    assert_npy_says_cat(response["Body"].read())


def test_a_body_just_under_6_mb_reaches_the_model(aws, endpoint):
    name, _ = endpoint
    noise = np.random.default_rng(1).integers(0, 256, size=(1440, 1440, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG", compress_level=0)
    assert 6_000_000 < len(buffer.getvalue()) <= MAX_INVOCATION_BODY_BYTES
    response = invoke(aws, name, buffer.getvalue(), "image/png")
    assert len(json.loads(response["Body"].read())["predictions"][0]) == 5


def test_body_over_6_mb_is_refused_like_sagemaker(aws, endpoint):
    """InvokeEndpoint's Body limit: HTTP 413 with no error code, so botocore raises ClientError("413")."""
    from botocore.exceptions import ClientError

    name, _ = endpoint
    with pytest.raises(ClientError) as raised:
        invoke(aws, name, b"\xff" * (MAX_INVOCATION_BODY_BYTES + 1), "image/png")
    response = raised.value.response
    assert response["Error"]["Code"] == "413" and response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert response["Error"]["Message"].startswith("HTTP content length exceeded 6291456 bytes.")
    assert "6 MB on real SageMaker too" in response["Error"]["Message"]
    assert is_cat(top1(invoke(aws, name, CAT_JPEG.read_bytes(), "image/jpeg")))  # the connection pool is fine


def test_target_variant(aws, endpoint):
    name, _ = endpoint
    response = invoke(aws, name, CAT_JPEG.read_bytes(), "image/jpeg", TargetVariant="AllTraffic")
    assert response["InvokedProductionVariant"] == "AllTraffic"
    with pytest.raises(aws.runtime.exceptions.ValidationError, match="variant Other"):
        invoke(aws, name, CAT_JPEG.read_bytes(), "image/jpeg", TargetVariant="Other")


# --------------------------------------------------------------------------- runtime errors
def refused(aws: Aws, name: str, body: bytes, content_type: str) -> dict:
    """The error response of an invocation that boto3 raises as ModelError."""
    with pytest.raises(aws.runtime.exceptions.ModelError) as raised:
        invoke(aws, name, body, content_type)
    return raised.value.response


def test_bad_content_type_is_a_model_error_with_the_original_status(aws, endpoint):
    name, _ = endpoint
    response = refused(aws, name, b"a,b", "text/csv")
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 415
    assert "text/csv" in response["OriginalMessage"]
    assert "Received client error (415)" in response["Error"]["Message"]
    assert "model-server.log" in response["Error"]["Message"]
    assert response["LogStreamArn"].startswith("arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/hosting-cat")


def test_corrupt_image_is_a_model_error_400(aws, endpoint):
    name, _ = endpoint
    assert refused(aws, name, b"not an image", "application/x-image")["OriginalStatusCode"] == 400


def test_unknown_endpoint_is_a_validation_error(aws):
    with pytest.raises(aws.runtime.exceptions.ValidationError) as raised:
        invoke(aws, "no-such-endpoint", b"x", "image/jpeg")
    assert raised.value.response["Error"]["Message"] == "Endpoint no-such-endpoint of account 123456789012 not found."
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_creating_an_existing_endpoint_is_refused(aws, endpoint):
    name, _ = endpoint
    with pytest.raises(aws.sm.exceptions.ClientError, match="Cannot create already existing endpoint"):
        aws.sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def test_gateway_answers_unknown_routes_with_a_clear_404(aws):
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{aws.info.runtime_url}/models", timeout=10)
    assert raised.value.code == 404
    assert "InvokeEndpoint" in json.loads(raised.value.read())["Message"]


# --------------------------------------------------------------------------- lifecycle
def test_delete_recreate_and_a_crashed_server(aws, model_url):
    name = "hosting-lifecycle"
    _, described = deploy(aws, name, model_url)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    assert len(server_processes(aws, name)) == 1

    delete_endpoint(aws, name)
    with pytest.raises(aws.runtime.exceptions.ValidationError, match=f"Endpoint {name} of account"):
        invoke(aws, name, CAT_JPEG.read_bytes(), "image/jpeg")
    with pytest.raises(aws.sm.exceptions.ClientError, match="Could not find endpoint"):
        aws.sm.describe_endpoint(EndpointName=name)

    statuses, described = deploy(aws, name, model_url)  # the same name works again
    assert statuses[0] == "Creating" and described["EndpointStatus"] == "InService"
    assert is_cat(top1(invoke(aws, name, CAT_JPEG.read_bytes(), "image/jpeg")))

    delete_endpoint(aws, name)


def test_a_killed_model_server_is_replaced_and_clients_retry(aws, model_url):
    """SageMaker replaces a dead instance; meanwhile the runtime answers 503, which botocore retries."""
    name = "hosting-crash"
    _, described = deploy(aws, name, model_url)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    (process,) = server_processes(aws, name)
    os.kill(process.pid, signal.SIGKILL)
    wait_until(lambda: support.is_gone(process), timeout_s=30, interval_s=0.05,
               timeout_message=f"the killed model server {process.pid} is still alive after 30 s")

    no_retries = boto3.client("sagemaker-runtime", endpoint_url=aws.info.runtime_url, region_name=aws.info.region,
                              config=Config(retries={"mode": "standard", "max_attempts": 1}), **DUMMY_CREDENTIALS)
    with pytest.raises(no_retries.exceptions.ServiceUnavailable) as raised:
        no_retries.invoke_endpoint(EndpointName=name, Body=CAT_JPEG.read_bytes(), ContentType="image/jpeg")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "being replaced" in raised.value.response["Error"]["Message"]

    def answer() -> str | None:  # boto3's own retries of the 503 usually suffice
        try:
            return top1(invoke(aws, name, CAT_JPEG.read_bytes(), "image/jpeg"))
        except aws.runtime.exceptions.ServiceUnavailable:
            return None

    answered = wait_until(answer, timeout_s=WAIT_S, interval_s=0.5)
    assert is_cat(answered)
    assert aws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    (replacement,) = server_processes(aws, name)
    assert replacement.pid != process.pid
    assert "starting it again (1 of 3 restarts" in (aws.endpoints_dir / name / "model-server.log").read_text()
    delete_endpoint(aws, name)


def test_delete_while_creating_is_refused_like_sagemaker_and_the_clean_up_waits_it_out(aws, model_url):
    """SageMaker refuses DeleteEndpoint while an endpoint is Creating (ValidationException 'Cannot
    update in-progress endpoint'); the workshop's clean-up waits it out, deletes, and nothing is left."""
    from helpers.endpoints import delete_endpoints

    name = "hosting-hasty"
    create_endpoint(aws, name, model_url)
    assert aws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    with pytest.raises(aws.sm.exceptions.ClientError, match=f'Cannot update in-progress endpoint ".*endpoint/{name}"'):
        aws.sm.delete_endpoint(EndpointName=name)
    assert delete_endpoints(aws.sm, [name], phases=((1, 120),)) == {}
    time.sleep(1)  # a launch racing the delete would show up by now
    assert server_processes(aws, name) == []
    assert name not in {e["EndpointName"] for e in aws.sm.list_endpoints()["Endpoints"]}


# --------------------------------------------------------------------------- failed endpoints
def assert_failed(aws: Aws, name: str, *fragments: str) -> str:
    statuses, described = wait_endpoint(aws, name)
    assert statuses[-1] == "Failed", statuses
    reason = described["FailureReason"]
    for fragment in fragments:
        assert fragment in reason, reason
    assert len(reason) <= 1024
    with pytest.raises(aws.runtime.exceptions.ValidationError):
        invoke(aws, name, b"x", "image/jpeg")
    delete_endpoint(aws, name)
    return reason


def test_missing_model_data_fails_with_a_reason(aws):
    url = f"s3://{BUCKET}/does-not-exist/model.tar.gz"
    create_endpoint(aws, "hosting-missing", url)
    assert_failed(aws, "hosting-missing", url, "Upload model.tar.gz")


def test_archive_without_a_model_fails_with_the_servers_log(aws, model_archive):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        add_code_dir(tar, json.dumps(read_archive_config(model_archive)).encode())
    create_endpoint(aws, "hosting-no-model", upload(aws, "hosting/no-model.tar.gz", buffer.getvalue()))
    assert_failed(aws, "hosting-no-model", "exited with code", "No model artifact", "model-server.log")


def test_unsafe_archive_fails_with_a_reason(aws):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    create_endpoint(aws, "hosting-unsafe", upload(aws, "hosting/unsafe.tar.gz", buffer.getvalue()))
    assert_failed(aws, "hosting-unsafe", "Could not extract", "../escape.txt")


def test_model_data_that_is_not_a_tarball_fails(aws):
    create_endpoint(aws, "hosting-not-tar", upload(aws, "hosting/not-tar.tar.gz", b"plain text"))
    assert_failed(aws, "hosting-not-tar", "Could not extract")


# --------------------------------------------------------------------------- in-process
def test_a_server_that_never_gets_healthy_fails_after_the_timeout(mock_aws_server):
    """model_fn that never returns: Failed after the start-up timeout, and the process is stopped."""
    from helpers.local.hosting_service import HostingService

    script = b"import time\ndef model_fn(model_dir):\n    while True:\n        time.sleep(1)\n" + b"".join(
        f"def {name}(*args):\n    pass\n".encode() for name in ("input_fn", "predict_fn", "output_fn"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(script)
        tar.addfile(info, io.BytesIO(script))
    hosting = HostingService(mock_aws_server, startup_timeout_s=3).install()
    try:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="stuck.tar.gz", Body=buffer.getvalue())
        aws = Aws(info=None, s3=s3, sm=boto3.client("sagemaker", region_name="us-east-1"), runtime=None)
        create_endpoint(aws, "hosting-stuck", f"s3://{BUCKET}/stuck.tar.gz")
        statuses, described = wait_endpoint(aws, "hosting-stuck")
        assert statuses[0] == "Creating" and statuses[-1] == "Failed"
        assert "did not pass the /ping health check within 3 s" in described["FailureReason"]
        assert "handlers: model_fn (entry script)" in described["FailureReason"]  # the log's last lines
        assert hosting.running() == [] and hosting.lookup("hosting-stuck") is None
    finally:
        hosting.uninstall()

"""The three entry-script shapes the issue names serve on the local backend exactly as the toolkit would.

An entry script with only `transform_fn`, one with only `predict_fn` and one with all four
handlers (model_fn, input_fn, predict_fn, output_fn) each become a real local endpoint (S3 ->
CreateModel -> CreateEndpointConfig -> CreateEndpoint -> model server), and every request of the
oracle test goes through boto3's InvokeEndpoint and the runtime gateway. The expected answer is
what the SageMaker PyTorch serving toolkit itself (`Transformer` + `DefaultPytorchInferenceHandler`,
in this process, as tests/test_serving_toolkit_oracle.py drives it) answers for the same script,
model and request: on 200 the same body and Content-Type, otherwise SageMaker's ModelError whose
OriginalStatusCode is the toolkit's status.
"""

from __future__ import annotations

import importlib
import io
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
import support
from botocore.config import Config

from helpers.local_names import DUMMY_CREDENTIALS
from helpers.polling import wait_until

pytestmark = pytest.mark.slow

oracle = pytest.importorskip("test_serving_toolkit_oracle")  # the toolkit driven in-process

SHAPES = ("transform_fn only", "predict_fn only", "all four")
BUCKET = "neo-workshop-toolkit-endpoints"
ROLE = "arn:aws:iam::123456789012:role/neo-workshop-tests"
WAIT_S = 180


@pytest.fixture(scope="module")
def aws(local_backend) -> dict[str, Any]:
    credentials = {"region_name": local_backend.region, **DUMMY_CREDENTIALS}
    control_plane = {"endpoint_url": local_backend.endpoint_url, **credentials}
    clients = {
        "s3": boto3.client("s3", **control_plane),
        "sm": boto3.client("sagemaker", **control_plane),
        "runtime": boto3.client("sagemaker-runtime", endpoint_url=local_backend.runtime_url,
                                config=Config(read_timeout=120, retries={"max_attempts": 1}), **credentials),
    }
    clients["s3"].create_bucket(Bucket=BUCKET)
    return clients


def model_dir_with(script: str, directory: Path) -> Path:
    """model.pth (the oracle's 3 -> 2 linear TorchScript model) and code/inference.py."""
    (directory / "code").mkdir(parents=True)
    support.save_tiny_linear(directory)
    (directory / "code" / "inference.py").write_text(script)
    return directory


def deploy(aws: dict[str, Any], name: str, model_dir: Path) -> None:
    """Upload model_dir as model.tar.gz and bring an endpoint called `name` to InService."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for item in ("model.pth", "code"):
            tar.add(model_dir / item, arcname=item)
    aws["s3"].put_object(Bucket=BUCKET, Key=f"{name}/model.tar.gz", Body=buffer.getvalue())
    aws["sm"].create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": "local/pytorch-inference", "ModelDataUrl": f"s3://{BUCKET}/{name}/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    aws["sm"].create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.c5.xlarge", "InitialInstanceCount": 1}])
    aws["sm"].create_endpoint(EndpointName=name, EndpointConfigName=name)

    def created() -> dict | None:
        described = aws["sm"].describe_endpoint(EndpointName=name)
        return described if described["EndpointStatus"] != "Creating" else None

    described = wait_until(created, timeout_s=WAIT_S, interval_s=0.25)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")


def delete(aws: dict[str, Any], name: str) -> None:
    aws["sm"].delete_endpoint(EndpointName=name)
    aws["sm"].delete_endpoint_config(EndpointConfigName=name)
    aws["sm"].delete_model(ModelName=name)


def local_answer(aws: dict[str, Any], name: str, body: bytes, content_type: str, accept: str | None) -> tuple:
    """What the local endpoint answers, in the oracle's terms: (200, Content-Type, body) or (status,)."""
    runtime = aws["runtime"]
    try:
        response = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type,
                                           **({"Accept": accept} if accept else {}))
    except runtime.exceptions.ModelError as error:
        return (error.response["OriginalStatusCode"],)
    return 200, response["ContentType"], response["Body"].read()


@pytest.fixture
def oracle_dir(tmp_path, monkeypatch) -> Path:
    """Where the toolkit finds the script: code/ on sys.path, the model directory as cwd."""
    directory = tmp_path / "oracle"
    directory.mkdir()
    yield support.toolkit_model_dir(directory, monkeypatch)
    sys.modules.pop("inference", None)


@pytest.mark.parametrize("shape", SHAPES)
def test_endpoint_answers_what_the_toolkit_answers(aws, oracle_dir, tmp_path, shape):
    script = textwrap.dedent(oracle.SCRIPTS[shape])
    name = "toolkit-" + shape.replace("_", "-").replace(" ", "-")
    deploy(aws, name, model_dir_with(script, tmp_path / "model"))
    try:
        model_dir_with(script, oracle_dir)
        importlib.invalidate_caches()
        for body, content_type, accept in oracle.REQUESTS:
            sys.modules.pop("inference", None)
            expected = oracle.toolkit_answer(oracle_dir, body, content_type, accept)
            assert local_answer(aws, name, body, content_type, accept) == expected, (shape, content_type, accept)
    finally:
        delete(aws, name)

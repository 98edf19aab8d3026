"""The aws-fidelity stand-in (issue 8): the local backend with its outputs in real AWS's shapes.

CI runs every notebook's `aws` branch against it (`python -m helpers standin -- pytest notebooks`);
these tests pin what makes it AWS-like: Neo's output name and PyTorch layout for ml_* targets,
the `neopytorch` step in Neo's inference image, no local-only response header. Both answers to
what AWS leaves undocumented (does Neo's output carry code/?) are covered.
"""

from __future__ import annotations

import io
import json
import pickle
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from helpers import packaging
from helpers.local import control
from helpers.local.compilation_steps import artifact_name, package_neo_pytorch
from helpers.local_names import GATEWAY_MS_HEADER
from helpers.paths import DATA_DIR

ROLE = "arn:aws:iam::123456789012:role/NeoWorkshopSageMakerRole"
SHAPES = {"input0": [1, 3, 224, 224]}


# ----------------------------------------------------------------------------- fast: naming and layout
@pytest.mark.parametrize(("uri", "target", "name"), [
    ("s3://b/neo-workshop/model/model.tar.gz", "ml_c5", "model-ml_c5.tar.gz"),
    ("s3://b/x/resnet_v1.5_50.tar.gz", "ml_c4", "resnet_v1.5_50-ml_c4.tar.gz"),
    ("s3://b/x/model.tar.gz", "LINUX_X86_64", "model-LINUX_X86_64.tar.gz"),
])
def test_artifacts_are_named_like_real_neo_output(uri, target, name):
    assert artifact_name(uri, target) == name


@pytest.mark.parametrize("keep_code", [True, False], ids=["neo-keeps-code", "neo-drops-code"])
def test_ml_artifact_has_real_neo_pytorch_layout_with_or_without_code(traced_model_file, model_archive, tmp_path, keep_code):
    """Whether Neo carries code/ over is undocumented: the stand-in can do both, add_code_from mends the second."""
    code_dir = packaging.safe_extract(model_archive, tmp_path / "input") / "code"
    artifact = package_neo_pytorch(traced_model_file, SHAPES, code_dir, tmp_path / "model-ml_c5.tar.gz",
                                   keep_code=keep_code)
    names = [name for name, _ in packaging.list_archive(artifact)]
    assert {"model.pth", "sample_input.pkl"} <= set(names) and "compiled.xml" not in names
    assert packaging.has_code_dir(artifact) is keep_code
    with tarfile.open(artifact) as tar:
        sample = pickle.loads(tar.extractfile("sample_input.pkl").read())
    assert list(sample.shape) == SHAPES["input0"]
    if not keep_code:
        mended = packaging.add_code_from(artifact, model_archive, tmp_path / "mended" / artifact.name)
        assert packaging.has_code_dir(mended)


# ----------------------------------------------------------------------------- slow: the stand-in itself
@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> Iterator[dict]:
    work = tmp_path_factory.mktemp("standin-work")
    info = control.start(work, fidelity="aws")
    kwargs = {"region_name": info.region, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    try:
        yield {"info": info, "work": work,
               "sm": boto3.client("sagemaker", endpoint_url=info.endpoint_url, **kwargs),
               "s3": boto3.client("s3", endpoint_url=info.endpoint_url, **kwargs),
               "smr": boto3.client("sagemaker-runtime", endpoint_url=info.runtime_url, **kwargs)}
    finally:
        control.stop(work)


def compile_job(clients: dict, model_uri: str, output: dict) -> dict:
    name = f"standin-{uuid.uuid4().hex[:8]}"
    clients["sm"].create_compilation_job(
        CompilationJobName=name, RoleArn=ROLE,
        InputConfig={"S3Uri": model_uri, "DataInputConfig": json.dumps(SHAPES), "Framework": "PYTORCH",
                     "FrameworkVersion": "2.0"},
        OutputConfig={"S3OutputLocation": model_uri.rsplit("/", 2)[0] + "/compiled", **output},
        StoppingCondition={"MaxRuntimeInSeconds": 900})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = clients["sm"].describe_compilation_job(CompilationJobName=name)
        if job["CompilationJobStatus"] in ("COMPLETED", "FAILED", "STOPPED"):
            return job
        time.sleep(0.5)
    raise TimeoutError(name)


@pytest.mark.slow
def test_a_backend_of_one_fidelity_is_not_silently_reused_as_the_other(standin):
    with pytest.raises(RuntimeError, match="aws fidelity already runs"):
        control.start(standin["work"], fidelity="local")


@pytest.mark.slow
def test_compiled_model_is_served_through_neopytorch_like_on_aws(standin, model_archive, tmp_path):
    s3, sm, smr = standin["s3"], standin["sm"], standin["smr"]
    bucket = "standin-tests"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(model_archive), bucket, "neo-workshop/model/model.tar.gz")
    job = compile_job(standin, f"s3://{bucket}/neo-workshop/model/model.tar.gz", {"TargetDevice": "ml_c5"})
    assert job["CompilationJobStatus"] == "COMPLETED", job.get("FailureReason")
    uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri.endswith("/compiled/model-ml_c5.tar.gz")
    assert "sagemaker-inference-pytorch:2.0-cpu-py3" in job["InferenceImage"]

    compiled = tmp_path / "model-ml_c5.tar.gz"
    s3.download_file(bucket, "neo-workshop/compiled/model-ml_c5.tar.gz", str(compiled))
    assert not packaging.has_code_dir(compiled), "the stand-in drops code/: the notebooks' repack path runs"
    mended = packaging.add_code_from(compiled, model_archive, tmp_path / "mended" / compiled.name)
    s3.upload_file(str(mended), bucket, "neo-workshop/compiled/with-code/model-ml_c5.tar.gz")

    name = f"standin-ep-{uuid.uuid4().hex[:6]}"
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": job["InferenceImage"], "ModelDataUrl": f"s3://{bucket}/neo-workshop/compiled/with-code/model-ml_c5.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.c5.xlarge"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 180})
        response = smr.invoke_endpoint(EndpointName=name, ContentType="application/x-image",
                                       Body=(DATA_DIR / "chelsea.jpg").read_bytes())
        answer = json.load(io.BytesIO(response["Body"].read()))
        assert answer["runtime"] == "neo-pytorch", "inference.py took neopytorch's step, as in Neo's image"
        assert answer["predictions"][0][0]["label"] in {"tiger cat", "tabby", "Egyptian cat"}
        headers = {k.lower() for k in response["ResponseMetadata"]["HTTPHeaders"]}
        assert GATEWAY_MS_HEADER not in headers, "real SageMaker sends no such header"
        log = Path(standin["info"].state_dir, "endpoints", name, "model-server.log").read_text()
        assert "stand-in neopytorch.config" in log
    finally:
        sm.delete_endpoint(EndpointName=name)
        sm.delete_endpoint_config(EndpointConfigName=name)
        sm.delete_model(ModelName=name)


@pytest.mark.slow
def test_target_platform_output_is_named_like_neo(standin, model_archive):
    s3 = standin["s3"]
    s3.create_bucket(Bucket="standin-platform")
    s3.upload_file(str(model_archive), "standin-platform", "m/model/model.tar.gz")
    job = compile_job(standin, "s3://standin-platform/m/model/model.tar.gz",
                      {"TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}})
    assert job["CompilationJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["ModelArtifacts"]["S3ModelArtifacts"].endswith("/compiled/model-LINUX_X86_64.tar.gz")
    assert "InferenceImage" not in job or not job["InferenceImage"]

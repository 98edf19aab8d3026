"""SageMaker Python SDK v3 (sagemaker-core) runs on the local backend with what `helpers local env` exports.

sagemaker-core's resource classes build plain boto3 clients, so the endpoint variables route
them; they also validate every Describe answer against the service model, which is how they
found the empty structures moto used to send (helpers/local/response_shapes.py). The flow:
CompilationJob.create -> wait -> Model.create -> EndpointConfig.create -> Endpoint.create ->
wait_for_status("InService") -> invoke -> delete, with explicit session= and region=, in the
project's own venv (the `aws` extra installs sagemaker-core).
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from helpers.local import control
from helpers.paths import DATA_DIR

pytestmark = pytest.mark.slow

resources = pytest.importorskip("sagemaker.core.resources")
shapes = pytest.importorskip("sagemaker.core.shapes")

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
CAT_JPEG = DATA_DIR / "chelsea.jpg"
POLL_S = 1


@pytest.fixture
def local_env(local_backend, monkeypatch):
    """This process's environment as after `eval "$(python -m helpers local env)"`."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (control.env_vars(local_backend) | control.sdk_env_vars(local_backend)).items():
        monkeypatch.setenv(name, value)
    return local_backend


def test_sagemaker_core_session_takes_the_default_bucket_from_the_config_file(local_env):
    """v3's Session reads the same SDK config file as v2's: default_bucket() without STS."""
    from sagemaker.core.helper.session_helper import Session

    session = Session(boto_session=boto3.Session(region_name=local_env.region))
    assert session.default_bucket() == f"sagemaker-{local_env.region}-{local_env.account_id}"


def test_sagemaker_core_compile_deploy_invoke_delete(local_env, model_archive):
    region = local_env.region
    session = boto3.Session(region_name=region)
    bucket = f"sagemaker-core-{int(time.time())}"
    session.client("s3").create_bucket(Bucket=bucket)
    session.client("s3").upload_file(str(model_archive), bucket, "model/model.tar.gz")
    name = f"sdk-v3-{time.time_ns()}"
    where = {"session": session, "region": region}

    job = resources.CompilationJob.create(
        compilation_job_name=name, role_arn=ROLE,
        input_config=shapes.InputConfig(s3_uri=f"s3://{bucket}/model/model.tar.gz", framework="PYTORCH",
                                        data_input_config='{"input0": [1, 3, 224, 224]}', framework_version="2.0"),
        output_config=shapes.OutputConfig(s3_output_location=f"s3://{bucket}/compiled", target_device="ml_c5"),
        stopping_condition=shapes.StoppingCondition(max_runtime_in_seconds=900), **where)
    job.wait(poll=POLL_S)
    assert job.compilation_job_status == "COMPLETED"
    model = resources.Model.create(
        model_name=name, execution_role_arn=ROLE,
        primary_container=shapes.ContainerDefinition(
            image=job.inference_image, model_data_url=job.model_artifacts.s3_model_artifacts,
            environment={"SAGEMAKER_PROGRAM": "inference.py"}), **where)
    config = resources.EndpointConfig.create(endpoint_config_name=name, production_variants=[
        shapes.ProductionVariant(variant_name="AllTraffic", model_name=name, instance_type="ml.c5.xlarge",
                                 initial_instance_count=1)], **where)
    endpoint = resources.Endpoint.create(endpoint_name=name, endpoint_config_name=name, **where)
    try:
        endpoint.wait_for_status("InService", poll=POLL_S)
        answer = endpoint.invoke(body=CAT_JPEG.read_bytes(), content_type="image/jpeg", accept="application/json")
        assert answer.content_type == "application/json"
        top1 = json.loads(answer.body.read())["predictions"][0][0]["label"]
        assert "cat" in top1 or top1 == "tabby", top1
        # the listings validate too (they failed on moto's `VpcConfig: {}`)
        assert name in [m.model_name for m in resources.Model.get_all(name_contains=name, **where)]
        assert name in [j.compilation_job_name for j in resources.CompilationJob.get_all(name_contains=name, **where)]
    finally:
        endpoint.delete()
        config.delete()
        model.delete()
    sm = session.client("sagemaker")
    assert name not in {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}
    assert name not in {m["ModelName"] for m in sm.list_models()["Models"]}

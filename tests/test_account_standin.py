"""On `aws` (here: the stand-in, `python -m helpers standin`): the still-running notice `connect` prints,
and `python -m helpers check-account`, the readiness check before the day."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from helpers import aws, running
from helpers.local import control

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> Iterator[dict]:
    work = tmp_path_factory.mktemp("account-standin")
    info = control.start(work, fidelity="aws")
    env = {**control.env_vars(info), aws.BACKEND_ENV: "aws",
           aws.ROLE_ENV: f"arn:aws:iam::{info.account_id}:role/{aws.LOCAL_ROLE_NAME}"}
    kwargs = {"region_name": info.region, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    try:
        yield {"info": info, "work": work, "env": env,
               "sm": boto3.client("sagemaker", endpoint_url=info.endpoint_url, **kwargs)}
    finally:
        control.stop(work)


@pytest.fixture
def on_standin(standin, monkeypatch):
    for key, value in standin["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return standin


def test_connect_on_aws_lists_the_workshops_endpoints_still_billing(on_standin, model_archive, capsys):
    sm, info = on_standin["sm"], on_standin["info"]
    backend = aws.connect("aws", on_standin["work"])
    assert "STILL RUNNING" not in capsys.readouterr().out  # nothing yet: no notice at all
    s3 = backend.client("s3")
    s3.upload_file(str(model_archive), backend.bucket, "neo-workshop/running/model.tar.gz")
    from helpers.endpoints import delete_endpoints, deploy

    name = deploy(sm, "neo-workshop-left-over", f"s3://{backend.bucket}/neo-workshop/running/model.tar.gz",
                  aws.LOCAL_IMAGE, backend.role_arn, "ml.c5.xlarge")
    sm.create_model(ModelName="someone-elses", ExecutionRoleArn=backend.role_arn, PrimaryContainer={
        "Image": aws.LOCAL_IMAGE, "ModelDataUrl": f"s3://{backend.bucket}/neo-workshop/running/model.tar.gz"})
    try:
        aws.connect("aws", on_standin["work"])
        out = capsys.readouterr().out
        assert "STILL RUNNING" in out and name in out and "$0.204/hour" in out and "up 0 min" in out
        assert running.DELETE_COMMAND in out and "expires 20" in out
        assert "someone-elses" not in out
    finally:
        assert not delete_endpoints(sm, [name])
        sm.delete_endpoint_config(EndpointConfigName=name)
        sm.delete_model(ModelName=name)
        sm.delete_model(ModelName="someone-elses")
    assert info.pid

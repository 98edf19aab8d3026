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


def test_check_account_on_the_standin_finds_a_role_without_permissions_then_passes(on_standin, capsys):
    import json

    from helpers import check_account, notebook_calls
    from helpers.cli import main

    iam = boto3.client("iam", endpoint_url=on_standin["info"].endpoint_url, region_name=on_standin["info"].region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    name = on_standin["env"][aws.ROLE_ENV].rsplit("/", 1)[-1]
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(aws.SAGEMAKER_TRUST))
    assert main(["check-account", "--work-dir", str(on_standin["work"])]) == 1
    out = capsys.readouterr().out
    assert "✓ credentials and region" in out and "✓ SageMaker Neo in the region" in out
    assert "✓ execution role passable to SageMaker" in out and "✓ bucket writable" in out
    assert "✗ execution role's permissions: denied: " in out and "sagemaker:CreateEndpoint" in out
    assert f"✓ endpoint instance quota: 'ml.c5.xlarge for endpoint usage' = 4, the notebooks run " \
           f"{check_account.needed_instances()} at once" in out
    assert "✓ price for one attendee: about $" in out

    iam.put_role_policy(RoleName=name, PolicyName="notebooks", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": sorted(notebook_calls.notebook_actions() - {"sagemaker:InvokeEndpoint"}),
             "Resource": "*"},
            {"Effect": "Allow", "Action": "sagemaker:Invoke*", "Resource": "*"}]}))
    assert main(["check-account", "--work-dir", str(on_standin["work"])]) == 0, capsys.readouterr().out
    assert "✓ execution role's permissions: all" in capsys.readouterr().out
    iam.put_role_policy(RoleName=name, PolicyName="deny", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sagemaker:CreateModel", "Resource": "*"}]}))
    assert main(["check-account", "--work-dir", str(on_standin["work"])]) == 1
    assert "denied: sagemaker:CreateModel." in capsys.readouterr().out
    iam.delete_role_policy(RoleName=name, PolicyName="deny")


def test_check_account_on_local_passes(tmp_path, capsys, monkeypatch):
    from helpers.cli import main

    monkeypatch.delenv(aws.BACKEND_ENV, raising=False)
    try:
        assert main(["check-account", "--backend", "local", "--work-dir", str(tmp_path)]) == 0, capsys.readouterr().out
        out = capsys.readouterr().out
        assert out.count("✓") == 7 and "$0 on local" in out
    finally:
        control.stop(tmp_path)
        aws._forget_local_routing()


def test_a_low_quota_says_how_much_to_request():
    from helpers import check_account

    class Quotas:
        def get_paginator(self, _):
            return self

        def paginate(self, **_):
            return [{"Quotas": [{"QuotaName": check_account.QUOTA_NAME, "QuotaCode": "L-X", "Value": 1.0}]}]

    class Backend:
        region = "us-east-1"

        def client(self, _):
            return Quotas()

    check = check_account.check_quota(Backend())
    assert not check.ok and "Request an increase to 3" in check.detail and "L-X" in check.detail

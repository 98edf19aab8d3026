"""`python -m helpers cleanup` (issue 10, item 9): it finds the workshop's resources by name prefix
and tag, shows what endpoints cost, deletes only with --yes, and never touches anything else."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from helpers import cleanup, cli

pytestmark = pytest.mark.slow

ROLE = "arn:aws:iam::123456789012:role/neo-workshop-tests"
IMAGE = "neo-workshop/local-model-server:pytorch-cpu"


@pytest.fixture
def sm_s3(local_backend):
    kwargs = {"endpoint_url": local_backend.endpoint_url, "region_name": local_backend.region,
              "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("sagemaker", **kwargs), boto3.client("s3", **kwargs)


def make_model(sm, name: str, model_url: str, tags: list | None = None) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, Tags=tags or [],
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_url})


def test_cleanup_lists_then_deletes_only_the_workshops(local_backend, sm_s3, model_archive, capsys):
    sm, s3 = sm_s3
    bucket = f"sagemaker-{local_backend.region}-{local_backend.account_id}"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(model_archive), bucket, "neo-workshop/cleanup/model.tar.gz")
    s3.put_object(Bucket=bucket, Key="someone-else/data.csv", Body=b"1,2")
    url = f"s3://{bucket}/neo-workshop/cleanup/model.tar.gz"
    make_model(sm, "neo-workshop-cleanup", url)
    make_model(sm, "tagged-by-the-workshop", url, [{"Key": "project", "Value": "neo-workshop"}])
    make_model(sm, "someone-elses-model", url)
    sm.create_endpoint_config(EndpointConfigName="neo-workshop-cleanup", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "neo-workshop-cleanup", "InitialInstanceCount": 2,
        "InstanceType": "ml.c5.xlarge"}])
    sm.create_endpoint(EndpointName="neo-workshop-cleanup", EndpointConfigName="neo-workshop-cleanup")
    work = Path(local_backend.work_dir)

    assert cli.main(["cleanup", "--work-dir", str(work)]) == 0  # without --yes: a list, nothing deleted
    listing = capsys.readouterr().out
    assert "neo-workshop-cleanup" in listing and "tagged-by-the-workshop" in listing
    assert "someone-elses-model" not in listing and "someone-else/data.csv" not in listing
    assert "$0.408/hour" in listing and "--yes" in listing  # 2 x ml.c5.xlarge
    assert "someone-elses-model" in {m["ModelName"] for m in sm.list_models()["Models"]}
    assert sm.list_endpoints()["Endpoints"], "listing must not delete"

    assert cli.main(["cleanup", "--work-dir", str(work), "--yes"]) == 0
    assert "Deleted" in capsys.readouterr().out
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["someone-elses-model"]
    assert not sm.list_endpoints()["Endpoints"] and not sm.list_endpoint_configs()["EndpointConfigs"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["someone-else/data.csv"]
    sm.delete_model(ModelName="someone-elses-model")

    assert cli.main(["cleanup", "--work-dir", str(work), "--yes"]) == 0  # twice in a row: fine
    assert "Nothing of the workshop's" in capsys.readouterr().out


def test_cleanup_of_a_local_backend_that_is_not_running_starts_nothing(tmp_path, capsys):
    assert cleanup.main("local", tmp_path) == 0
    assert "not running" in capsys.readouterr().out
    assert not (tmp_path / "local-aws" / "server.json").exists()

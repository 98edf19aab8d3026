"""`python -m helpers cleanup` (issue 10, item 9): it finds the workshop's resources by name prefix
and tag, shows what endpoints cost, deletes only with --yes, and never touches anything else."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from helpers import cleanup, cli

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


def _upload_model(backend, s3, model_archive: Path, folder: str) -> tuple[str, str]:
    """The workshop's default bucket with a model archive under neo-workshop/<folder>/: (bucket, its S3 URI)."""
    bucket = f"sagemaker-{backend.region}-{backend.account_id}"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(model_archive), bucket, f"neo-workshop/{folder}/model.tar.gz")
    return bucket, f"s3://{bucket}/neo-workshop/{folder}/model.tar.gz"


@pytest.mark.slow
def test_cleanup_lists_then_deletes_only_the_workshops(local_backend, sm_s3, model_archive, capsys):
    sm, s3 = sm_s3
    bucket, url = _upload_model(local_backend, s3, model_archive, "cleanup")
    s3.put_object(Bucket=bucket, Key="someone-else/data.csv", Body=b"1,2")
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
    left = {m["ModelName"] for m in sm.list_models()["Models"]}  # (the session's backend: other tests' too)
    assert "someone-elses-model" in left and not left & {"neo-workshop-cleanup", "tagged-by-the-workshop"}
    assert "neo-workshop-cleanup" not in {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}
    assert "neo-workshop-cleanup" not in {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["someone-else/data.csv"]
    sm.delete_model(ModelName="someone-elses-model")

    assert cli.main(["cleanup", "--work-dir", str(work), "--yes"]) == 0  # twice in a row: fine
    assert "Nothing of the workshop's" in capsys.readouterr().out


def test_cleanup_of_a_local_backend_that_is_not_running_starts_nothing(tmp_path, capsys):
    assert cleanup.main("local", tmp_path) == 0
    assert "not running" in capsys.readouterr().out
    assert not (tmp_path / "local-aws" / "server.json").exists()


def test_cleanup_on_an_aws_account_deletes_only_the_workshops(monkeypatch, capsys):
    """`--backend aws`: boto3's own session and region (moto's mock_aws stands in for the account),
    the default bucket's neo-workshop/ prefix only, nothing untagged and unprefixed."""
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        sm, s3 = boto3.client("sagemaker"), boto3.client("s3")
        bucket = "sagemaker-eu-west-1-123456789012"  # the SageMaker default bucket's name for this account
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for key in ("neo-workshop/model/model.tar.gz", "neo-workshop/compiled/model-ml_c5.tar.gz", "theirs/x"):
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        url = f"s3://{bucket}/neo-workshop/model/model.tar.gz"
        for name in ("neo-workshop-ep-compiled", "their-model"):
            make_model(sm, name, url)
        sm.create_endpoint_config(EndpointConfigName="neo-workshop-ep-compiled", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "neo-workshop-ep-compiled", "InitialInstanceCount": 1,
            "InstanceType": "ml.c5.xlarge"}])
        sm.create_endpoint(EndpointName="neo-workshop-ep-compiled", EndpointConfigName="neo-workshop-ep-compiled")

        assert cleanup.main("aws") == 0
        listing = capsys.readouterr().out
        assert "REAL AWS account" in listing and "$0.204/hour" in listing and "theirs/x" not in listing
        assert len(sm.list_models()["Models"]) == 2, "listing deletes nothing"

        assert cleanup.main("aws", yes=True) == 0
        assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["their-model"]
        assert not sm.list_endpoints()["Endpoints"] and not sm.list_endpoint_configs()["EndpointConfigs"]
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["theirs/x"]


class JobsOnly:
    """SageMaker as cleanup.delete sees it when only compilation jobs are left: records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def stop_compilation_job(self, CompilationJobName):  # noqa: N803 - boto3's parameter name
        self.calls.append(("stop", CompilationJobName))

    def delete_compilation_job(self, CompilationJobName):  # noqa: N803
        self.calls.append(("delete", CompilationJobName))


def test_cleanup_stops_a_running_compilation_job_and_deletes_a_finished_one(capsys):
    sm = JobsOnly()
    resources = [cleanup.Resource("compilation job", "neo-workshop-running", "INPROGRESS"),
                 cleanup.Resource("compilation job", "neo-workshop-done", "COMPLETED")]
    deleted = cleanup.delete(sm, None, resources)
    assert sm.calls == [("stop", "neo-workshop-running"), ("delete", "neo-workshop-done")]
    assert [r.name for r in deleted] == ["neo-workshop-done"], "a stopping job is deleted by the next run"


@pytest.mark.slow
def test_cleanup_expired_on_the_local_backend_deletes_only_what_expired(local_backend, sm_s3, model_archive, capsys):
    """The local backend keeps the same tags (ListTags), so `--expired` and the account's Lambda act the same there."""
    from datetime import datetime, timedelta, timezone

    from helpers import expiry_cleaner

    sm, s3 = sm_s3
    bucket, url = _upload_model(local_backend, s3, model_archive, "expired")
    long_ago = datetime.now(timezone.utc) - timedelta(hours=5)
    for name, tags in (("neo-workshop-expired", expiry_cleaner.expiry_tags("ana", 3, long_ago)),
                       ("neo-workshop-fresh", expiry_cleaner.expiry_tags("ana", 3))):
        make_model(sm, name, url, tags)
        sm.create_endpoint_config(EndpointConfigName=name, Tags=tags, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.c5.xlarge"}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    arn = sm.describe_endpoint(EndpointName="neo-workshop-fresh")["EndpointArn"]
    assert expiry_cleaner.CREATED_BY in {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    work = str(local_backend.work_dir)

    assert cli.main(["cleanup", "--expired", "--work-dir", work]) == 0
    out = capsys.readouterr().out
    assert "neo-workshop-expired" in out and "neo-workshop-fresh" not in out and "--yes" in out
    assert cli.main(["cleanup", "--expired", "--work-dir", work, "--yes"]) == 0
    left = {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}
    assert "neo-workshop-fresh" in left and "neo-workshop-expired" not in left
    assert "neo-workshop-expired" not in {m["ModelName"] for m in sm.list_models()["Models"]}
    sm.delete_endpoint(EndpointName="neo-workshop-fresh")
    sm.delete_endpoint_config(EndpointConfigName="neo-workshop-fresh")
    sm.delete_model(ModelName="neo-workshop-fresh")

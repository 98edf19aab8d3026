"""Client-side helpers that decide things before any AWS call: versions, URIs, costs, backends."""

from __future__ import annotations

import os

import pytest

from helpers import aws, endpoints


def test_split_s3_uri():
    assert aws.split_s3_uri("s3://bucket/a/b.tar.gz") == ("bucket", "a/b.tar.gz")
    with pytest.raises(ValueError, match="Not an S3 URI"):
        aws.split_s3_uri("https://bucket/a")


def test_unknown_backend_is_refused(monkeypatch):
    monkeypatch.delenv(aws.BACKEND_ENV, raising=False)
    with pytest.raises(ValueError, match="local"):
        aws.connect("azure")


LOCAL_ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://127.0.0.1:4567",
             "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


@pytest.fixture
def clean_aws_env(monkeypatch, tmp_path):
    """No AWS settings at all: no keys, no profile, no config files."""
    for variable in (*LOCAL_ENV, "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.setenv(variable, "x")  # registers the original value (or its absence) for teardown...
        monkeypatch.delenv(variable)  # ...which delenv of an unset variable would not
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(aws, "_set_by_local", {})


def test_local_routing_keeps_the_users_own_keys_and_region(clean_aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUSERKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "user-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws._route_to_local(LOCAL_ENV)
    assert os.environ["AWS_ENDPOINT_URL"] == LOCAL_ENV["AWS_ENDPOINT_URL"]
    assert (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_DEFAULT_REGION"]) == ("AKIAUSERKEY", "eu-west-1")
    aws._forget_local_routing()
    assert "AWS_ENDPOINT_URL" not in os.environ and os.environ["AWS_ACCESS_KEY_ID"] == "AKIAUSERKEY"


def test_local_routing_keeps_a_profiles_credentials(clean_aws_env, monkeypatch, tmp_path):
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIA\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    aws._route_to_local(LOCAL_ENV)
    assert "AWS_ACCESS_KEY_ID" not in os.environ, "dummy keys would shadow the profile"


def test_dummy_keys_only_where_there_are_none_and_taken_back(clean_aws_env):
    aws._route_to_local(LOCAL_ENV)
    aws._route_to_local(LOCAL_ENV)  # a second notebook connecting again changes nothing
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    aws._forget_local_routing()
    assert not any(variable in os.environ for variable in LOCAL_ENV)


def test_an_endpoint_url_the_user_set_comes_back_after_local(clean_aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localstack:4566")
    aws._route_to_local(LOCAL_ENV)
    assert os.environ["AWS_ENDPOINT_URL"] == LOCAL_ENV["AWS_ENDPOINT_URL"]
    aws._forget_local_routing()
    assert os.environ["AWS_ENDPOINT_URL"] == "http://localstack:4566"


def test_aws_backend_without_credentials_says_what_to_do(clean_aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv(aws.BACKEND_ENV, "aws")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws._route_to_local(LOCAL_ENV)  # this kernel used `local` before
    with pytest.raises(RuntimeError, match="credentials"):
        aws.connect("local", tmp_path)  # the environment variable wins over the argument
    assert "AWS_ENDPOINT_URL" not in os.environ, "aws must not route to the local backend any more"


def test_aws_backend_honours_an_explicit_endpoint_url(clean_aws_env, monkeypatch, tmp_path):
    """As boto3 does (LocalStack, a proxy, the CI stand-in): only our own stale routing is dropped."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with pytest.raises(RuntimeError, match="credentials"):
        aws.connect("aws", tmp_path)
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"


def test_pytorch_image_uri_for_aws_comes_from_sagemaker_core(tmp_path):
    backend = aws.Backend("aws", None, "us-east-1", "111122223333", "arn:role", "bucket", tmp_path)
    uri = aws.pytorch_inference_image(backend, "2.0", "ml.c5.xlarge")
    assert uri.startswith("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.0") and "cpu" in uri


def test_local_image_is_only_a_label(tmp_path):
    backend = aws.Backend("local", None, "us-east-1", "123456789012", "arn:role", "bucket", tmp_path)
    assert aws.pytorch_inference_image(backend) == aws.LOCAL_IMAGE
    assert backend.s3_uri("model", "m.tar.gz") == "s3://bucket/neo-workshop/model/m.tar.gz"


def test_cost_note_states_hourly_and_daily_price():
    note = endpoints.cost_note("ml.c5.xlarge", 2)
    assert "/hour" in note and "/day" in note
    assert "pricing" in endpoints.cost_note("ml.x99.huge", 1)


def test_require_state_names_the_notebook_to_run(tmp_path):
    from helpers import paths

    with pytest.raises(RuntimeError, match="01_trace.ipynb"):
        paths.require_state(tmp_path, "model_archive", made_by="01_trace.ipynb")
    paths.save_state(tmp_path, model_archive="x")
    assert paths.require_state(tmp_path, "model_archive", made_by="01") == "x"


def test_sdk_env_points_the_sagemaker_sdk_at_a_default_bucket_config_in_the_work_dir(tmp_path):
    """`helpers local env` also exports the SageMaker SDK's config file (no STS call for the bucket)."""
    from helpers.local import control
    from helpers.local.run_file import RunInfo

    yaml = pytest.importorskip("yaml")  # PyYAML, which both SDKs read their config with
    info = RunInfo(pid=0, endpoint_url="http://127.0.0.1:1", runtime_url="http://127.0.0.1:2", work_dir=str(tmp_path))
    variables = control.sdk_env_vars(info)
    path = tmp_path / "local-aws" / "sagemaker-sdk-config.yaml"
    assert variables == {"SAGEMAKER_USER_CONFIG_OVERRIDE": str(path)}
    config = yaml.safe_load(path.read_text())
    assert config["SchemaVersion"] == "1.0"
    assert config["SageMaker"]["PythonSDK"]["Modules"] == {
        "TelemetryOptOut": True, "Session": {"DefaultS3Bucket": "sagemaker-us-east-1-123456789012"}}
    assert control.sdk_env_vars(info) == variables  # idempotent
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["sagemaker-sdk-config.yaml"]

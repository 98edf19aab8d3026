"""The scheduled cleaner (helpers/expiry_cleaner.py, also the attendee account's Lambda) against moto in-process."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from helpers import expiry_cleaner, tags

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
ROLE = "arn:aws:iam::123456789012:role/NeoWorkshopSageMakerRole"


@pytest.fixture
def sm(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        yield boto3.client("sagemaker", region_name="us-east-1")


def deploy(sm, name: str, resource_tags: list[dict[str, str]]) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, Tags=resource_tags,
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                                      "ModelDataUrl": "s3://b/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName=name, Tags=resource_tags, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.c5.xlarge"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=resource_tags)


def names(sm) -> dict[str, set[str]]:
    return {"endpoints": {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]},
            "configs": {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]},
            "models": {m["ModelName"] for m in sm.list_models()["Models"]}}


def test_only_the_expired_endpoint_goes_and_a_foreign_one_is_never_touched(sm):
    deploy(sm, "neo-workshop-old", expiry_cleaner.expiry_tags("ana", hours=3, now=NOW - timedelta(hours=4)))
    deploy(sm, "neo-workshop-fresh", expiry_cleaner.expiry_tags("ana", hours=3, now=NOW))
    deploy(sm, "someone-elses", [{"Key": "team", "Value": "search"}])
    # a name of the workshop's but an expiry someone else wrote, without created-by: not ours to delete
    deploy(sm, "neo-workshop-untagged", [{"Key": expiry_cleaner.EXPIRES_AT, "Value": "2000-01-01T00:00:00Z"}])

    report = expiry_cleaner.delete_expired(sm, now=NOW)

    assert {(d["kind"], d["name"]) for d in report["deleted"]} == {
        ("endpoint", "neo-workshop-old"), ("endpoint config", "neo-workshop-old"), ("model", "neo-workshop-old")}
    assert report["kept"] == 1 and not report["errors"]
    left = names(sm)
    for kind in left.values():
        assert kind == {"neo-workshop-fresh", "someone-elses", "neo-workshop-untagged"}


def test_dry_run_deletes_nothing_and_the_fresh_one_goes_once_it_expires(sm):
    deploy(sm, "neo-workshop-a", expiry_cleaner.expiry_tags("ana", hours=1, now=NOW))
    report = expiry_cleaner.delete_expired(sm, now=NOW + timedelta(hours=2), dry_run=True)
    assert [d["name"] for d in report["deleted"] if d["kind"] == "endpoint"] == ["neo-workshop-a"]
    assert names(sm)["endpoints"] == {"neo-workshop-a"}
    expiry_cleaner.delete_expired(sm, now=NOW + timedelta(hours=2))
    assert names(sm) == {"endpoints": set(), "configs": set(), "models": set()}


def test_a_leftover_config_and_model_past_expiry_go_too(sm):
    deploy(sm, "neo-workshop-b", expiry_cleaner.expiry_tags("ana", hours=1, now=NOW - timedelta(hours=2)))
    sm.delete_endpoint(EndpointName="neo-workshop-b")
    expiry_cleaner.delete_expired(sm, now=NOW)
    assert names(sm) == {"endpoints": set(), "configs": set(), "models": set()}


def test_handler_is_the_lambda_entry_point(sm, capsys):
    deploy(sm, "neo-workshop-c", expiry_cleaner.expiry_tags("ana", hours=1, now=datetime.now(timezone.utc) - timedelta(hours=2)))
    report = expiry_cleaner.handler({"source": "aws.scheduler"}, None)
    assert ("endpoint", "neo-workshop-c") in {(d["kind"], d["name"]) for d in report["deleted"]}
    assert '"deleted"' in capsys.readouterr().out


def test_workshop_tags_name_the_attendee_and_expire_in_three_hours(monkeypatch):
    monkeypatch.setenv(tags.ATTENDEE_ENV, "Ana Kim (table 4)")
    monkeypatch.delenv(expiry_cleaner.HOURS_ENV, raising=False)
    found = {t["Key"]: t["Value"] for t in tags.workshop_tags()}
    assert found["project"] == "neo-workshop"
    assert found[expiry_cleaner.CREATED_BY] == "Ana Kim _table 4_"
    expires = expiry_cleaner.parse_time(found[expiry_cleaner.EXPIRES_AT])
    assert timedelta(hours=2.9) < expires - datetime.now(timezone.utc) <= timedelta(hours=3)
    monkeypatch.setenv(expiry_cleaner.HOURS_ENV, "0.5")
    assert expiry_cleaner.parse_time(tags.workshop_tags()[2]["Value"]) - datetime.now(timezone.utc) <= timedelta(hours=0.5)
    monkeypatch.setenv(expiry_cleaner.HOURS_ENV, "soon")
    with pytest.raises(ValueError, match="number of hours"):
        tags.workshop_tags()


def test_the_cleaner_imports_nothing_but_boto3_and_the_standard_library():
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(expiry_cleaner.__file__).read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert roots - {"__future__", "boto3"} <= set(sys.stdlib_module_names)

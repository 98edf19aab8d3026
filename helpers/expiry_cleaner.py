"""Delete the workshop's SageMaker endpoints past their `neo-workshop:expires-at` tag: a guardrail that needs nobody.

This one file is also the code of the attendee account's scheduled Lambda function
(infra/attendee-account.yaml embeds it verbatim; tests/test_attendee_template.py checks they are
the same, `python tools/embed_cleaner.py` rewrites the template). So it imports nothing but the
standard library and boto3, which every Lambda Python runtime ships
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html: "the runtime includes the AWS SDK
for Python (Boto3)").

What it deletes, and what it never touches:
- an endpoint whose tags carry BOTH `neo-workshop:created-by` and an `neo-workshop:expires-at` in
  the past; any other endpoint (no tags, someone else's, an unreadable expiry) stays;
- then that endpoint's config and the models it names, each only if it carries the workshop's
  `neo-workshop:created-by` tag itself;
- configs and models of the workshop's that are past expiry and left over without an endpoint.
An endpoint still Creating or Updating cannot be deleted (SageMaker refuses: "Cannot delete ...
in-progress"); it is reported as skipped and the next scheduled run takes it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any

CREATED_BY = "neo-workshop:created-by"
EXPIRES_AT = "neo-workshop:expires-at"
HOURS_ENV = "NEO_WORKSHOP_EXPIRY_HOURS"
DEFAULT_HOURS = 3.0
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html (EndpointStatus)
IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack")


def expiry_hours(hours: float | None = None) -> float:
    """The lifetime a new resource gets: `hours`, else $NEO_WORKSHOP_EXPIRY_HOURS, else 3."""
    if hours is None:
        raw = os.environ.get(HOURS_ENV, "")
        try:
            hours = float(raw) if raw else DEFAULT_HOURS
        except ValueError:
            raise ValueError(f"{HOURS_ENV}={raw!r} is not a number of hours (e.g. 3 or 0.5)") from None
    if hours <= 0:
        raise ValueError(f"An expiry of {hours} hours is not in the future: give a positive number of hours.")
    return hours


def format_time(moment: datetime) -> str:
    """ISO-8601 UTC to the second, `2026-12-02T19:30:00Z` (a valid SageMaker tag value: letters, digits, `:-`)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime | None:
    """The moment an `expires-at` value names, or None when it names none (such a resource is kept)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def expiry_tags(created_by: str, hours: float | None = None, now: datetime | None = None) -> list[dict[str, str]]:
    """The two tags of the guardrail, as SageMaker's Create* calls take them (`Tags=[{Key, Value}]`)."""
    now = now or datetime.now(timezone.utc)
    return [{"Key": CREATED_BY, "Value": created_by},
            {"Key": EXPIRES_AT, "Value": format_time(now + timedelta(hours=expiry_hours(hours)))}]


def _tags(sm: Any, arn: str) -> dict[str, str]:
    """A resource's tags as a dict (ListTags pages with NextToken)."""
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = sm.list_tags(**kwargs)
        tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
        if not page.get("NextToken"):
            return tags
        kwargs["NextToken"] = page["NextToken"]


def _expired(tags: dict[str, str], now: datetime) -> str | None:
    """The expiry of a resource of the workshop's that is past it; None for any other resource."""
    if CREATED_BY not in tags:
        return None
    moment = parse_time(tags.get(EXPIRES_AT, ""))
    return tags[EXPIRES_AT] if moment is not None and moment <= now else None


def _listed(sm: Any, method: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in sm.get_paginator(method).paginate():
        items += page.get(key, [])
    return items


def _error(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Message") or str(exc)


def _delete_if_ours(sm: Any, kind: str, name: str, arn: str, report: dict[str, Any]) -> None:
    """Delete an endpoint config or model of the workshop's (tagged created-by); record the outcome."""
    try:
        if CREATED_BY not in _tags(sm, arn):
            return
        if kind == "endpoint config":
            sm.delete_endpoint_config(EndpointConfigName=name)
        else:
            sm.delete_model(ModelName=name)
        report["deleted"].append({"kind": kind, "name": name})
    except Exception as exc:  # noqa: BLE001 - botocore's ClientError and its modelled subclasses
        report["errors"].append({"kind": kind, "name": name, "error": _error(exc)})


def _arn(sm: Any, kind: str, name: str) -> str:
    if kind == "endpoint config":
        return sm.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigArn"]
    return sm.describe_model(ModelName=name)["ModelArn"]


def _delete_endpoint(sm: Any, endpoint: dict[str, Any], expired_at: str, report: dict[str, Any]) -> None:
    """One expired endpoint, then its config and that config's models (each only if the workshop's)."""
    name = endpoint["EndpointName"]
    if endpoint.get("EndpointStatus") in IN_PROGRESS:
        report["skipped"].append({"kind": "endpoint", "name": name, "why": f"{endpoint['EndpointStatus']}: "
                                  "SageMaker deletes no endpoint in progress; the next run takes it"})
        return
    try:
        config_name = sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
        config = sm.describe_endpoint_config(EndpointConfigName=config_name)
        sm.delete_endpoint(EndpointName=name)
    except Exception as exc:  # noqa: BLE001
        report["errors"].append({"kind": "endpoint", "name": name, "error": _error(exc)})
        return
    report["deleted"].append({"kind": "endpoint", "name": name, "expired_at": expired_at})
    _delete_if_ours(sm, "endpoint config", config_name, config["EndpointConfigArn"], report)
    for variant in config.get("ProductionVariants", []):
        if variant.get("ModelName"):
            try:
                arn = _arn(sm, "model", variant["ModelName"])
            except Exception:  # noqa: BLE001 - already gone, or shared and deleted by another run
                continue
            _delete_if_ours(sm, "model", variant["ModelName"], arn, report)


def _leftovers(sm: Any, now: datetime, report: dict[str, Any], dry_run: bool) -> None:
    """Configs and models of the workshop's past expiry with no endpoint left to delete them with."""
    done = {(item["kind"], item["name"]) for item in report["deleted"]}
    for kind, method, key, name_field, arn_field in (
            ("endpoint config", "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn"),
            ("model", "list_models", "Models", "ModelName", "ModelArn")):
        for item in _listed(sm, method, key):
            name = item[name_field]
            if (kind, name) in done or _expired(_tags(sm, item[arn_field]), now) is None:
                continue
            if dry_run:
                report["deleted"].append({"kind": kind, "name": name})
            else:
                _delete_if_ours(sm, kind, name, item[arn_field], report)


def delete_expired(sm: Any, now: datetime | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Delete (or with `dry_run` only list) what is past expiry; return the report of what went.

    The report: {"now", "deleted": [{kind, name, expired_at?}], "skipped": [...], "errors": [...],
    "kept": number of the workshop's endpoints not yet expired}.
    """
    now = now or datetime.now(timezone.utc)
    report: dict[str, Any] = {"now": format_time(now), "deleted": [], "skipped": [], "errors": [], "kept": 0}
    for endpoint in _listed(sm, "list_endpoints", "Endpoints"):
        tags = _tags(sm, endpoint["EndpointArn"])
        expired_at = _expired(tags, now)
        if expired_at is None:
            report["kept"] += CREATED_BY in tags
        elif dry_run:
            report["deleted"].append({"kind": "endpoint", "name": endpoint["EndpointName"], "expired_at": expired_at})
        else:
            _delete_endpoint(sm, endpoint, expired_at, report)
    _leftovers(sm, now, report, dry_run)
    return report


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (EventBridge schedule): delete what expired, log and return the report."""
    import boto3

    report = delete_expired(boto3.client("sagemaker"), dry_run=bool((event or {}).get("dry_run")))
    print(json.dumps(report))  # CloudWatch Logs: what was deleted, when
    return report

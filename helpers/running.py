"""What of the workshop's still bills on `aws`, said at the top of every notebook (`aws.connect` prints it).

An attendee whose *Run All* stopped in 03 before its clean-up cell still has endpoints billing by
the hour; this notice shows them in 04 (or anywhere after), with their hourly price, their age and
the one command that deletes them. It lists endpoints only: they are what bills by the hour
(models and endpoint configs cost nothing; https://aws.amazon.com/sagemaker/pricing/, "Real-Time
Inference": billed per instance-hour while the endpoint runs).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from helpers.cleanup import PREFIX, endpoint_cost
from helpers.expiry_cleaner import CREATED_BY, EXPIRES_AT

DELETE_COMMAND = "python -m helpers cleanup --backend aws --yes"


def _tags(sm: Any, arn: str) -> dict[str, str]:
    try:
        return {tag["Key"]: tag["Value"] for tag in sm.list_tags(ResourceArn=arn).get("Tags", [])}
    except sm.exceptions.ClientError:  # no sagemaker:ListTags: the name prefix still finds the workshop's
        return {}


def billable_endpoints(sm: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """The workshop's endpoints (name prefix, or the created-by tag): name, status, $/hour, age, expiry."""
    now = now or datetime.now(timezone.utc)
    rows = []
    for page in sm.get_paginator("list_endpoints").paginate():
        for item in page["Endpoints"]:
            tags = _tags(sm, item["EndpointArn"])
            if not (item["EndpointName"].startswith(PREFIX) or CREATED_BY in tags):
                continue
            created = item.get("CreationTime") or now
            rows.append({"endpoint": item["EndpointName"], "status": item.get("EndpointStatus", ""),
                         "usd_per_hour": endpoint_cost(sm, item["EndpointName"]),
                         "age_minutes": max(0, round((now - created).total_seconds() / 60)),
                         "expires_at": tags.get(EXPIRES_AT, "")})
    return rows


def notice_text(rows: list[dict[str, Any]]) -> str:
    """The notice: one line per endpoint, the hourly total, the command that deletes them ('' when none)."""
    if not rows:
        return ""
    lines = [f"STILL RUNNING from an earlier notebook or run: {len(rows)} endpoint(s) of the workshop's, billed per hour:"]
    for row in rows:
        price = "price unknown" if row["usd_per_hour"] is None else f"${row['usd_per_hour']:.3f}/hour"
        expiry = f", expires {row['expires_at']}" if row["expires_at"] else ""
        lines.append(f"  {row['endpoint']}  {row['status']}  {price}  up {row['age_minutes']} min{expiry}")
    total = sum(row["usd_per_hour"] or 0 for row in rows)
    lines.append(f"  about ${total:.2f}/hour together. Delete them all: {DELETE_COMMAND}")
    lines.append("  (the notebook that made them deletes its own in its clean-up section; the command deletes everything of the workshop's)")
    return "\n".join(lines)


def print_notice(sm: Any) -> list[dict[str, Any]]:
    """Print the notice if anything bills (and nothing otherwise); never stop a notebook over it."""
    try:
        rows = billable_endpoints(sm)
    except Exception as exc:  # noqa: BLE001 - no sagemaker:ListEndpoints: say so, and go on
        print(f"(Could not list the workshop's running endpoints: {exc}. `{DELETE_COMMAND.replace(' --yes', '')}` lists them.)")
        return []
    text = notice_text(rows)
    if text:
        print(text)
    return rows

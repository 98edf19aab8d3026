"""`python -m helpers check-account`: can this account do what the notebooks do? One line each, ✓ or ✗ with the fix.

Run by the facilitator before the day (in each attendee account, or once with the account's
credentials), and by an attendee whose first notebook fails. It creates nothing but one small S3
object, which it deletes again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from helpers.endpoints import HOURLY_USD
from helpers.notebook_calls import (
    CONCURRENT_ENDPOINTS,
    ENDPOINT_INSTANCE_TYPE,
    ENDPOINT_MINUTES,
    notebook_actions,
    sample_resource,
)

QUOTA_NAME = f"{ENDPOINT_INSTANCE_TYPE} for endpoint usage"  # its name in Service Quotas (service code sagemaker)
STUDIO_SPACE_USD_PER_HOUR = 0.05  # ml.t3.medium JupyterLab space, https://aws.amazon.com/sagemaker/pricing/
WORKSHOP_HOURS = 3


@dataclass
class Check:
    """One line of the check: what, whether it passed, what was found or what to do."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}"


def _error(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"


def check_neo(backend: Any) -> Check:
    """Neo answers in this region: ListCompilationJobs is SageMaker's, and Neo's, cheapest call."""
    try:
        backend.client("sagemaker").list_compilation_jobs(MaxResults=1)
        return Check("SageMaker Neo in the region", True, f"{backend.region}: compilation jobs answer")
    except Exception as exc:  # noqa: BLE001
        return Check("SageMaker Neo in the region", False, f"{_error(exc)}. Pick a region Neo supports "
                     "(https://docs.aws.amazon.com/sagemaker/latest/dg/neo-supported-cloud.html), "
                     "e.g. export AWS_DEFAULT_REGION=us-east-1")


def check_role(backend: Any) -> list[Check]:
    """The execution role exists, trusts SageMaker, and its policies allow every call the notebooks make."""
    iam = backend.client("iam")
    name = backend.role_arn.rsplit("/", 1)[-1]
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except Exception as exc:  # noqa: BLE001
        return [Check("execution role", False, f"{backend.role_arn}: {_error(exc)}. Set NEO_WORKSHOP_ROLE_ARN to "
                      "a role SageMaker can assume (infra/attendee-account.yaml makes one).")]
    trust = role.get("AssumeRolePolicyDocument", {})
    trust = json.loads(trust) if isinstance(trust, str) else trust
    trusted = "sagemaker.amazonaws.com" in json.dumps(trust)
    checks = [Check("execution role passable to SageMaker", trusted, backend.role_arn if trusted else
                    f"{backend.role_arn}'s trust policy does not name sagemaker.amazonaws.com: add it "
                    "(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html)")]
    actions = sorted(notebook_actions())
    try:
        # https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
        # one call per action, on the resource of the workshop's it would be called on
        results = []
        for action in actions:
            resource = sample_resource(action, backend.region, backend.account_id, backend.bucket, role["Arn"])
            results += iam.simulate_principal_policy(PolicySourceArn=role["Arn"], ActionNames=[action],
                                                     ResourceArns=[resource])["EvaluationResults"]
    except Exception as exc:  # noqa: BLE001
        return [*checks, Check("execution role's permissions", False, f"could not simulate them ({_error(exc)}): "
                               "the checker needs iam:SimulatePrincipalPolicy")]
    denied = sorted({r["EvalActionName"] for r in results if r["EvalDecision"] != "allowed"})
    return [*checks, Check("execution role's permissions", not denied,
                           f"all {len(actions)} calls the notebooks make are allowed" if not denied else
                           f"denied: {', '.join(denied)}. Grant them (infra/attendee-account.yaml's "
                           "ExecutionRole policy lists exactly these)")]


def check_bucket(backend: Any) -> Check:
    """Write and delete one object under the workshop's prefix."""
    s3 = backend.client("s3")
    key = "neo-workshop/check-account/probe.txt"
    try:
        s3.put_object(Bucket=backend.bucket, Key=key, Body=b"neo-workshop check-account")
        s3.delete_object(Bucket=backend.bucket, Key=key)
        return Check("bucket writable", True, f"s3://{backend.bucket}/neo-workshop/")
    except Exception as exc:  # noqa: BLE001
        return Check("bucket writable", False, f"s3://{backend.bucket}/{key}: {_error(exc)}. Grant s3:PutObject and "
                     "s3:DeleteObject on arn:aws:s3:::<bucket>/neo-workshop/*")


def needed_instances() -> int:
    """The most endpoints one notebook runs at once (03 and 05 run theirs one after the other)."""
    return max(CONCURRENT_ENDPOINTS.values())


def check_quota(backend: Any) -> Check:
    """Service Quotas' applied value of `ml.c5.xlarge for endpoint usage` >= what a notebook runs at once."""
    need = needed_instances()
    try:
        # https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html
        quotas = []
        for page in backend.client("service-quotas").get_paginator("list_service_quotas").paginate(ServiceCode="sagemaker"):
            quotas += page["Quotas"]
    except Exception as exc:  # noqa: BLE001
        return Check("endpoint instance quota", False, f"{_error(exc)}: grant servicequotas:ListServiceQuotas, or read "
                     f"'{QUOTA_NAME}' in the Service Quotas console (Amazon SageMaker)")
    found = [q for q in quotas if q.get("QuotaName") == QUOTA_NAME]
    if not found:
        return Check("endpoint instance quota", False, f"no quota named '{QUOTA_NAME}' in {backend.region}: "
                     "check the Service Quotas console")
    value = int(found[0]["Value"])
    return Check("endpoint instance quota", value >= need, f"'{QUOTA_NAME}' = {value}, the notebooks run {need} at once"
                 + ("" if value >= need else f". Request an increase to {need} in Service Quotas (code "
                    f"{found[0].get('QuotaCode', '?')}); small increases are often approved in minutes"))


def workshop_price() -> tuple[float, str]:
    """The workshop's list price for one attendee: endpoint-hours of 03 and 05 plus the Studio space."""
    price = HOURLY_USD[ENDPOINT_INSTANCE_TYPE]
    endpoint_usd = sum(CONCURRENT_ENDPOINTS[nb] * ENDPOINT_MINUTES[nb] / 60 * price for nb in CONCURRENT_ENDPOINTS)
    total = endpoint_usd + WORKSHOP_HOURS * STUDIO_SPACE_USD_PER_HOUR
    return total, (f"about ${total:.2f}: endpoints ${endpoint_usd:.2f} ({ENDPOINT_INSTANCE_TYPE} at ${price}/h), "
                   f"Studio space ${WORKSHOP_HOURS * STUDIO_SPACE_USD_PER_HOUR:.2f} ({WORKSHOP_HOURS} h); Neo compilation "
                   "jobs and S3 cost cents or nothing. A forgotten endpoint: "
                   f"${price * 24:.2f}/day (the expiry cleaner deletes it after 3 h)")


def run_checks(backend_name: str, work_dir: Any = None) -> list[Check]:
    """Every check, in order; a failed connection stops the rest (they need it)."""
    from helpers import aws

    try:
        backend = aws.connect(backend_name, work_dir)
    except Exception as exc:  # noqa: BLE001 - the credential and region errors say what to do
        return [Check("credentials and region", False, str(exc))]
    checks = [Check("credentials and region", True, f"account {backend.account_id}, region {backend.region}")]
    checks.append(check_neo(backend))
    checks += check_role(backend)
    checks.append(check_bucket(backend))
    checks.append(check_quota(backend))
    total, detail = workshop_price()
    checks.append(Check("price for one attendee", True, detail if not backend.is_local else
                        f"$0 on local; on aws {detail}"))
    return checks


def main(backend: str, work_dir: Any = None) -> int:
    """Print one line per check; exit 1 if any failed."""
    checks = run_checks(backend, work_dir)
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed." + (" Fix the ✗ lines above." if failed else ""))
    return 1 if failed else 0

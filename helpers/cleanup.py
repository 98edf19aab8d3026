"""`python -m helpers cleanup`: find everything the workshop created on a backend, delete on --yes.

The safety net for real accounts: a notebook that crashed, a kernel that died, a browser tab
closed before the clean-up cell ran. It finds resources by what the workshop gives every one of
them — a name starting with `neo-workshop` or the tag `project=neo-workshop` — never by a
record kept on disk, so it works after any crash, and it never touches anything else: the
default SageMaker bucket itself stays, only objects under its `neo-workshop/` prefix go.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.endpoints import HOURLY_USD, delete_endpoints

PREFIX = "neo-workshop"
TAG = ("project", "neo-workshop")
# kind -> (list call, its result key, name field, ARN field, delete call, name parameter)
LISTINGS = {
    "endpoint": ("list_endpoints", "Endpoints", "EndpointName", "EndpointArn", "delete_endpoint", "EndpointName"),
    "endpoint config": ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn",
                        "delete_endpoint_config", "EndpointConfigName"),
    "model": ("list_models", "Models", "ModelName", "ModelArn", "delete_model", "ModelName"),
    "compilation job": ("list_compilation_jobs", "CompilationJobSummaries", "CompilationJobName",
                        "CompilationJobArn", "delete_compilation_job", "CompilationJobName"),
}


@dataclass
class Resource:
    """One thing the workshop created: what it is, what it is called, what it costs per hour."""

    kind: str
    name: str
    status: str = ""
    usd_per_hour: float | None = None

    def row(self) -> dict[str, str]:
        cost = "" if self.usd_per_hour is None else f"${self.usd_per_hour:.3f}/hour"
        if self.kind == "endpoint" and self.usd_per_hour is None:
            cost = "billed per instance-hour (see https://aws.amazon.com/sagemaker/pricing/)"
        return {"kind": self.kind, "name": self.name, "status": self.status, "cost": cost}


def _is_workshops(sm: Any, name: str, arn: str, check_tags: bool) -> bool:
    if name.startswith(PREFIX):
        return True
    if not check_tags or not arn:
        return False
    tags = sm.list_tags(ResourceArn=arn).get("Tags", [])
    return any((tag["Key"], tag["Value"]) == TAG for tag in tags)


def _listed(sm: Any, kind: str) -> Iterator[dict[str, Any]]:
    method, key, *_ = LISTINGS[kind]
    for page in sm.get_paginator(method).paginate():
        yield from page[key]


def find_sagemaker(sm: Any) -> list[Resource]:
    """Every endpoint, endpoint config, model and compilation job of the workshop's, endpoints first."""
    found = []
    for kind, (_, _, name_field, arn_field, *_) in LISTINGS.items():
        for item in _listed(sm, kind):
            if _is_workshops(sm, item[name_field], item.get(arn_field, ""), check_tags=kind != "compilation job"):
                status = item.get("EndpointStatus") or item.get("CompilationJobStatus") or ""
                found.append(Resource(kind, item[name_field], status))
    for resource in found:
        if resource.kind == "endpoint":
            resource.usd_per_hour = endpoint_cost(sm, resource.name)
    return found


def endpoint_cost(sm: Any, name: str) -> float | None:
    """What an endpoint costs per hour at list price (None when an instance type is not in the table)."""
    try:
        config = sm.describe_endpoint_config(
            EndpointConfigName=sm.describe_endpoint(EndpointName=name)["EndpointConfigName"])
    except sm.exceptions.ClientError:
        return None
    total = 0.0
    for variant in config.get("ProductionVariants", []):
        price = HOURLY_USD.get(variant.get("InstanceType", ""))
        if price is None:
            return None
        total += price * variant.get("InitialInstanceCount", 1)
    return total


def find_objects(s3: Any, bucket: str) -> list[Resource]:
    """The objects under `s3://<bucket>/neo-workshop/` (the bucket may not exist: nothing then)."""
    found = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/"):
            found += [Resource("s3 object", f"s3://{bucket}/{item['Key']}", f"{item['Size']} bytes")
                      for item in page.get("Contents", [])]
    except s3.exceptions.NoSuchBucket:
        return []
    return found


def delete(sm: Any, s3: Any, resources: list[Resource]) -> list[Resource]:
    """Delete `resources` in dependency order (endpoints first: they bill); return what went.

    A refusal (a permission, an endpoint that would not finish Creating) is printed and the rest goes
    on: what is not returned is still there, and main() lists it.
    """
    from botocore.exceptions import ClientError

    deleted = []

    def attempt(resource: Resource, call: Any, **kwargs: Any) -> bool:
        try:
            call(**kwargs)
            return True
        except ClientError as exc:
            print(f"  could not delete {resource.kind} {resource.name}: {exc}")
            return False

    endpoints = [r for r in resources if r.kind == "endpoint"]
    not_gone = delete_endpoints(sm, [r.name for r in endpoints])  # waits out one still Creating
    for name, why in not_gone.items():
        print(f"  could not delete endpoint {name}: {why}")
    deleted += [r for r in endpoints if r.name not in not_gone]
    for resource in resources:
        if resource.kind in ("endpoint config", "model", "compilation job"):
            *_, method, parameter = LISTINGS[resource.kind]
            if resource.kind == "compilation job" and resource.status in ("INPROGRESS", "STARTING"):
                attempt(resource, sm.stop_compilation_job, CompilationJobName=resource.name)
                continue  # a stopping job can be deleted once it has stopped: run cleanup again
            if attempt(resource, getattr(sm, method), **{parameter: resource.name}):
                deleted.append(resource)
    objects = [r for r in resources if r.kind == "s3 object"]
    for start in range(0, len(objects), 1000):  # DeleteObjects takes at most 1,000 keys
        batch = objects[start:start + 1000]
        bucket = batch[0].name.removeprefix("s3://").split("/", 1)[0]
        keys = [{"Key": r.name.removeprefix(f"s3://{bucket}/")} for r in batch]
        if attempt(batch[0], s3.delete_objects, Bucket=bucket, Delete={"Objects": keys, "Quiet": True}):
            deleted += batch
    return deleted


def _clients(backend: str, work_dir: Any) -> tuple[Any, Any, str] | None:
    """(sagemaker, s3, bucket) for `backend`, without creating anything; None if local is not running."""
    import boto3

    if backend == "local":
        from helpers.local import control
        from helpers.paths import work_dir as resolve

        info = control.status(Path(work_dir).resolve() if work_dir else resolve())  # an explicit directory wins
        if info is None:
            return None
        env = control.env_vars(info)
        session = boto3.Session(region_name=info.region, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        endpoint = {"endpoint_url": info.endpoint_url}
        return (session.client("sagemaker", **endpoint), session.client("s3", **endpoint),
                f"sagemaker-{info.region}-{info.account_id}")
    session = boto3.Session()  # your credentials and region, exactly as the notebooks' `aws` backend
    if not session.region_name:
        raise RuntimeError("No AWS region configured: set AWS_DEFAULT_REGION or run `aws configure`.")
    account = session.client("sts").get_caller_identity()["Account"]
    return session.client("sagemaker"), session.client("s3"), f"sagemaker-{session.region_name}-{account}"


def expired(sm: Any, backend: str, yes: bool) -> int:
    """`cleanup --expired`: what the attendee account's scheduled cleaner does, run now, on any backend."""
    from helpers.display import table_text
    from helpers.expiry_cleaner import delete_expired

    report = delete_expired(sm, dry_run=not yes)
    rows = [{"kind": d["kind"], "name": d["name"], "expired at": d.get("expired_at", "")} for d in report["deleted"]]
    verb = "Deleted" if yes else "Past their neo-workshop:expires-at tag (nothing deleted yet)"
    print(f"{verb} at {report['now']}:\n{table_text(rows)}" if rows else f"Nothing of the workshop's has expired "
          f"({report['kept']} endpoint(s) not yet).")
    for item in report["skipped"] + report["errors"]:
        print(f"  not deleted: {item['kind']} {item['name']}: {item.get('why') or item.get('error')}")
    if rows and not yes:
        print(f"To delete them: python -m helpers cleanup --expired --backend {backend} --yes")
    return 1 if report["errors"] else 0


def main(backend: str, work_dir: Any = None, yes: bool = False, only_expired: bool = False) -> int:
    """List (and with `yes`, delete) the workshop's resources on `backend`; print what happened.

    `only_expired`: only what is past its `neo-workshop:expires-at` tag (helpers/expiry_cleaner.py).
    """
    from helpers.display import table_text

    clients = _clients(backend, work_dir)
    if clients is None:
        print("The local backend is not running: nothing to clean up (its S3 and SageMaker state lived "
              "in memory). `python -m helpers local status` lists running backends.")
        return 0
    sm, s3, bucket = clients
    if only_expired:
        return expired(sm, backend, yes)
    resources = find_sagemaker(sm) + find_objects(s3, bucket)
    where = "REAL AWS account" if backend == "aws" else "local backend"
    if not resources:
        print(f"Nothing of the workshop's on the {where}.")
        return 0
    print(f"The workshop's resources on the {where}:")
    print(table_text([r.row() for r in resources]))
    hourly = sum(r.usd_per_hour or 0 for r in resources)
    if hourly:
        print(f"Running endpoints cost about ${hourly:.2f}/hour (${hourly * 24:.2f}/day) until deleted.")
    if not yes:
        print(f"Nothing deleted. To delete all of the above: python -m helpers cleanup --backend {backend} --yes")
        return 0
    deleted = delete(sm, s3, resources)
    print(f"Deleted {len(deleted)} of {len(resources)}.")
    left = [r for r in resources if r not in deleted]
    if left:
        print("Still there (stopping compilation jobs: run cleanup again in a minute):",
              ", ".join(r.name for r in left))
    return 0

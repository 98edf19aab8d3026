"""Endpoint plumbing: waiting with a progress display, cost notes, timing, and a clean-up that always works.

Notebook 03 makes the `create_model` / `create_endpoint_config` / `create_endpoint` calls itself;
this module holds the parts that would distract from them (notebook 05, which has taught them
already, deploys with `deploy`). `delete_workshop_endpoints` finds the workshop's resources by
name prefix, so it cleans up even after a failed or interrupted run. `time_endpoint` measures
the client-side round trip of `invoke_endpoint`.
"""

from __future__ import annotations

import time
from typing import Any

from helpers.local_names import GATEWAY_MS_HEADER, MODEL_MS_HEADER
from helpers.sagemaker_facts import ENDPOINT_IN_PROGRESS_STATUSES as IN_PROGRESS
from helpers.sagemaker_facts import RESPONSE_TIMEOUT_S, response_timeout_variable

# Approximate on-demand list prices (USD per hour, us-east-1, real-time inference, 2026):
# enough to know what forgetting an endpoint costs; see https://aws.amazon.com/sagemaker/pricing/
HOURLY_USD = {"ml.t2.medium": 0.056, "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.c5.large": 0.102,
              "ml.c5.xlarge": 0.204, "ml.c5.2xlarge": 0.408, "ml.g4dn.xlarge": 0.736}


def cost_note(instance_type: str, count: int) -> str:
    """What `count` endpoints on `instance_type` cost per hour and per day, if left running."""
    price = HOURLY_USD.get(instance_type)
    if price is None:
        return f"{count} x {instance_type}: see https://aws.amazon.com/sagemaker/pricing/ for the hourly price."
    return (f"{count} x {instance_type} at about ${price:.3f}/hour each = ${count * price:.2f}/hour, "
            f"${count * price * 24:.2f}/day until deleted.")


# How to poll: quickly at first (a local endpoint is up in seconds), then every 15 s for 45 minutes
# more. Real endpoints take 5-15 minutes; botocore's own EndpointInService waiter polls every 30 s
# up to 120 times, the SageMaker SDK's wait_for_endpoint every 30 s with no limit
# (/work/notes/aws-facts.md F1). (delay in s, attempts) per phase.
WAIT_PHASES = ((2, 15), (15, 180))
NOT_FOUND_RETRIES = 3  # DescribeEndpoint may not see a just-created endpoint yet (eventual consistency)


def wait_for_endpoints(sm: Any, names: list[str], *, phases: tuple[tuple[int, int], ...] = WAIT_PHASES) -> None:
    """Wait with boto3's `endpoint_in_service` waiter for each endpoint, showing their status.

    The endpoints come up side by side, so waiting for one after the other takes as long as the
    slowest. The waiter stops at InService (success) or Failed (failure, see botocore's waiter
    model for SageMaker); a Failed endpoint raises RuntimeError carrying SageMaker's
    FailureReason, after the others were waited for too. One still Creating when the last phase
    ends raises too, saying that it is billed while it exists and how to delete it.
    """
    from helpers.progress import StatusLine

    started = time.monotonic()
    statuses: dict[str, str] = {}
    failures: dict[str, str] = {}
    with StatusLine("waiting...") as line:
        for name in names:
            line.set(" | ".join([*(f"{n}: {s}" for n, s in statuses.items()), f"{name}: waiting..."]))
            statuses[name], reason = _wait_for_one(sm, name, phases)
            if reason:
                failures[name] = reason
        elapsed = time.monotonic() - started
        line.set(" | ".join(f"{n}: {s}" for n, s in statuses.items()) + f" ({elapsed:4.0f} s)")
    if failures:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in failures.items())
        raise RuntimeError(f"Endpoint(s) did not reach InService: {reasons}. On aws, {', '.join(names)} "
                           "were created and bill until deleted: run this notebook's Clean up cell now.")


def _wait_for_one(sm: Any, name: str, phases: tuple[tuple[int, int], ...]) -> tuple[str, str]:
    """(final status, failure reason or '') of one endpoint, waiting phase after phase."""
    from botocore.exceptions import WaiterError

    waiter = sm.get_waiter("endpoint_in_service")
    not_found = 0
    status = "Creating"
    for delay, attempts in phases:
        while True:
            try:
                waiter.wait(EndpointName=name, WaiterConfig={"Delay": delay, "MaxAttempts": attempts})
                return "InService", ""
            except WaiterError as exc:  # the last DescribeEndpoint answer says why
                last = exc.last_response or {}
                if last.get("Error", {}).get("Code") == "ValidationException" and not_found < NOT_FOUND_RETRIES:
                    not_found += 1  # not visible yet right after CreateEndpoint: look again
                    time.sleep(delay)
                    continue
                status = last.get("EndpointStatus", "gone")
                if status not in IN_PROGRESS:
                    return status, last.get("FailureReason") or str(exc)
                break  # still coming up: the next phase polls less often
    waited = sum(delay * attempts for delay, attempts in phases) // 60
    return status, (f"still {status} after about {waited:.0f} minutes. It is billed while it exists: delete it "
                    "with the notebook's clean-up cell or `python -m helpers cleanup --backend aws --yes`, "
                    "and look at its CloudWatch logs (/aws/sagemaker/Endpoints/" + name + ").")


def workshop_resources(sm: Any, prefix: str) -> dict[str, list[str]]:
    """Names of endpoints, endpoint configs and models starting with `prefix`, sorted."""
    listings = {
        "endpoints": ("list_endpoints", "Endpoints", "EndpointName"),
        "endpoint_configs": ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName"),
        "models": ("list_models", "Models", "ModelName"),
    }
    found: dict[str, list[str]] = {}
    for kind, (method, key, field) in listings.items():
        names: list[str] = []
        for page in sm.get_paginator(method).paginate(NameContains=prefix):
            names += [item[field] for item in page[key] if item[field].startswith(prefix)]
        found[kind] = sorted(names)
    return found


DELETE_WAIT = {"Delay": 15, "MaxAttempts": 80}  # botocore's EndpointDeleted waiter, up to 20 minutes


def delete_endpoints(sm: Any, names: list[str], *, phases: tuple[tuple[int, int], ...] = WAIT_PHASES,
                     delete_wait: dict[str, int] = DELETE_WAIT) -> dict[str, str]:
    """Delete the endpoints `names` and wait until they are gone; return {name: why not} for the rest.

    SageMaker deletes an endpoint only when it is not in progress. Those that can go are deleted
    first (every minute they live is billed); then one still Creating (an interrupted run, a wait
    that timed out) is waited for, until InService or Failed, and deleted. One already Deleting
    (a clean-up interrupted before) is only waited for.
    """
    from botocore.exceptions import ClientError, WaiterError

    problems: dict[str, str] = {}
    accepted, in_progress = [], []

    def call(method: Any, name: str) -> Any:
        """`method(EndpointName=name)`'s answer, or None: the endpoint is gone, or SageMaker refused (noted)."""
        try:
            return method(EndpointName=name)
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if not message.startswith("Could not find endpoint"):  # gone already: nothing to do
                problems[name] = message
            return None

    described = {name: call(sm.describe_endpoint, name) for name in names}
    for name, answer in described.items():
        if answer is None:
            continue
        if answer["EndpointStatus"] in IN_PROGRESS:
            in_progress.append(name)
        elif answer["EndpointStatus"] == "Deleting" or call(sm.delete_endpoint, name) is not None:
            accepted.append(name)
    for name in in_progress:
        print(f"endpoint {name} is still in progress: SageMaker deletes it only once that is over, waiting...")
        status, reason = _wait_for_one(sm, name, phases)
        if status in IN_PROGRESS:
            problems[name] = reason  # still starting after the whole wait: says it bills and what to do
        elif call(sm.delete_endpoint, name) is not None:
            accepted.append(name)
    for name in accepted:
        try:
            sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=delete_wait)
        except WaiterError as exc:
            problems[name] = f"is not gone (status {(exc.last_response or {}).get('EndpointStatus', 'unknown')})"
    return problems


def delete_workshop_endpoints(sm: Any, prefix: str) -> dict[str, list[str]]:
    """Delete every endpoint, endpoint config and model whose name starts with `prefix`.

    Safe to run twice and after a failure half-way: it deletes what exists and returns it.
    Endpoints go first (they bill; `delete_endpoints` waits out one still Creating), then their
    configs and models. One refusal does not stop the rest: everything is tried, then a
    RuntimeError lists what is left and why.
    """
    from botocore.exceptions import ClientError

    found = workshop_resources(sm, prefix)
    problems = [f"endpoint {name}: {why}" for name, why in delete_endpoints(sm, found["endpoints"]).items()]

    def attempt(what: str, call: Any, **kwargs: str) -> None:
        try:
            call(**kwargs)
        except ClientError as exc:
            problems.append(f"{what}: {exc.response.get('Error', {}).get('Message', exc)}")

    for name in found["endpoint_configs"]:
        attempt(f"endpoint config {name}", sm.delete_endpoint_config, EndpointConfigName=name)
    for name in found["models"]:
        attempt(f"model {name}", sm.delete_model, ModelName=name)
    if problems:
        raise RuntimeError(
            "Clean-up incomplete: " + "; ".join(problems) + ". On aws an endpoint bills until it is deleted: "
            "run this cell again in a few minutes, or `python -m helpers cleanup --backend aws --yes`.")
    return found


def container_environment(region: str, image: str) -> dict[str, str]:
    """The Environment of a PyTorch model's container (notebook 03 spells it out).

    AWS's "Deploy a Compiled Model Using Boto3" gives SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY
    (/opt/ml/model/code), SAGEMAKER_CONTAINER_LOG_LEVEL and SAGEMAKER_REGION, the four the
    SageMaker SDK's `Model._script_mode_env_vars` (sagemaker/model.py) sets too, and a response
    timeout of 500 s in the variable the image's model server reads
    (`sagemaker_facts.response_timeout_variable`: MMS_DEFAULT_RESPONSE_TIMEOUT for Neo's MMS image,
    SAGEMAKER_MODEL_SERVER_TIMEOUT for the pytorch-inference TorchServe image).
    """
    return {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": region,
            response_timeout_variable(image): RESPONSE_TIMEOUT_S}


def deploy(sm: Any, name: str, model_data: str, image: str, role_arn: str, instance_type: str,
           tags: list[dict[str, str]] | None = None) -> str:
    """Model + endpoint config + endpoint named `name` (the three calls notebook 03 teaches).

    Without `tags`, each gets the workshop's (`tags.workshop_tags()`: project, created-by,
    expires-at), so the attendee account's expiry cleaner can always find them.
    """
    if tags is None:
        from helpers.tags import workshop_tags

        tags = workshop_tags()
    sm.create_model(ModelName=name, ExecutionRoleArn=role_arn, Tags=tags,
                    PrimaryContainer={"Image": image, "ModelDataUrl": model_data,
                                      "Environment": container_environment(sm.meta.region_name, image)})
    sm.create_endpoint_config(EndpointConfigName=name, Tags=tags, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": instance_type}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)
    return name


def time_endpoint(
    runtime_client: Any,
    endpoint_name: str,
    body: bytes,
    content_type: str,
    repeats: int = 30,
    warmup: int = 3,
    accept: str | None = None,
) -> dict[str, list[float]]:
    """Client-side round-trip latency of `invoke_endpoint` in ms, plus the gateway's own overhead.

    The round trip includes the network, the gateway, the model server and reading the body.
    The local gateway reports its share and the model server's in response headers
    (`local_names.GATEWAY_MS_HEADER`, `MODEL_MS_HEADER`): `gateway_ms` and `model_ms`, call by call,
    stay empty when the endpoint does not send them (real SageMaker: read CloudWatch there).
    """
    kwargs: dict[str, Any] = {"EndpointName": endpoint_name, "Body": body, "ContentType": content_type}
    if accept:
        kwargs["Accept"] = accept
    round_trip: list[float] = []
    reported: dict[str, list[float]] = {GATEWAY_MS_HEADER: [], MODEL_MS_HEADER: []}
    for i in range(warmup + repeats):
        started = time.perf_counter_ns()
        response = runtime_client.invoke_endpoint(**kwargs)
        response["Body"].read()
        elapsed_ms = (time.perf_counter_ns() - started) / 1e6
        if i < warmup:
            continue
        round_trip.append(elapsed_ms)
        headers = {k.lower(): v for k, v in response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).items()}
        for header, values in reported.items():
            if header in headers:
                values.append(float(headers[header]))
    return {"round_trip_ms": round_trip, "gateway_ms": reported[GATEWAY_MS_HEADER], "model_ms": reported[MODEL_MS_HEADER]}

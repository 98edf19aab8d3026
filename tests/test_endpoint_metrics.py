"""SageMaker's endpoint metrics on the local backend: CloudWatch answers boto3 as it would on AWS.

After N invocations of an endpoint, `AWS/SageMaker` ModelLatency, OverheadLatency and Invocations
for that endpoint and variant have SampleCount N (and Invocations Sum N); a model error counts
in Invocation4XXErrors by its class. No timing is asserted, only counts and units.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time

import boto3
import pytest
from botocore.config import Config

from helpers.local import control
from helpers.local.endpoint_metrics import NAMESPACE, EndpointMetrics
from helpers.local_names import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, DUMMY_CREDENTIALS
from helpers.paths import DATA_DIR, REPO_ROOT
from helpers.polling import wait_until

CAT_JPEG = DATA_DIR / "chelsea.jpg"
VARIANT = "AllTraffic"
N = 7


def window() -> dict[str, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return {"StartTime": now - dt.timedelta(minutes=10), "EndTime": now + dt.timedelta(minutes=1)}


def stats(cw, endpoint: str, metric: str) -> dict[str, float]:
    """SampleCount, Sum, Maximum and Unit over the window, as a boto3 user reads them."""
    points = cw.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=metric, Period=60, Statistics=["SampleCount", "Sum", "Maximum"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT}],
        **window())["Datapoints"]
    return {"SampleCount": sum(p["SampleCount"] for p in points), "Sum": sum(p["Sum"] for p in points),
            "Maximum": max((p["Maximum"] for p in points), default=0.0),
            "Unit": {p["Unit"] for p in points}}


def test_recorded_invocations_read_back_through_boto3():
    """In-process (mock_aws): the moto patch alone, every documented metric and unit."""
    from moto import mock_aws

    with mock_aws():
        metrics = EndpointMetrics(DEFAULT_ACCOUNT_ID, DEFAULT_REGION).install()
        try:
            for _ in range(N):
                metrics.record("ep", VARIANT, model_s=0.010, overhead_s=0.0004, status=200)
            metrics.record("ep", VARIANT, model_s=0.002, overhead_s=0.0004, status=415)
            metrics.record("ep", VARIANT, model_s=0.001, overhead_s=0.0004, status=0)  # never answered: a 5xx
            cw = boto3.client("cloudwatch", region_name=DEFAULT_REGION)
            latency = stats(cw, "ep", "ModelLatency")
            assert latency["SampleCount"] == N + 2 and latency["Maximum"] == pytest.approx(10_000)
            assert latency["Unit"] == {"Microseconds"}
            assert stats(cw, "ep", "OverheadLatency")["Sum"] == pytest.approx(400 * (N + 2))
            assert stats(cw, "ep", "Invocations")["Sum"] == N + 2
            assert stats(cw, "ep", "Invocation4XXErrors") | {"Maximum": 1.0} == {
                "SampleCount": N + 2, "Sum": 1.0, "Maximum": 1.0, "Unit": {"None"}}
            assert stats(cw, "ep", "Invocation5XXErrors")["Sum"] == 1.0
            assert stats(cw, "other", "Invocations")["SampleCount"] == 0
            names = {m["MetricName"] for m in cw.list_metrics(Namespace=NAMESPACE)["Metrics"]}
            assert {"ModelLatency", "OverheadLatency", "Invocations", "InvocationsPerInstance"} <= names
        finally:
            metrics.uninstall()


def test_an_invocation_recorded_later_is_waited_for_and_counted_once():
    """The gateway records after the answer is sent; a read that comes first waits for it."""
    metrics = EndpointMetrics(DEFAULT_ACCOUNT_ID, DEFAULT_REGION)
    record = metrics.record_later("ep", VARIANT, model_s=0.010, overhead_s=0.0004, status=200)
    timer = threading.Timer(0.2, record)
    timer.start()
    try:
        assert len(metrics.datapoints(DEFAULT_ACCOUNT_ID, DEFAULT_REGION)) == 6  # one per metric, waited for
    finally:
        timer.join()
    record()  # a second close() records nothing more
    assert len(metrics.datapoints(DEFAULT_ACCOUNT_ID, DEFAULT_REGION)) == 6


def test_a_window_from_latency_split_counts_only_what_follows_it():
    """05's window: invocations recorded just before it opens (moto truncates StartTime to the
    second) stay out, so the split never mixes in the previous cell's invocations."""
    from moto import mock_aws

    from helpers import latency_split

    with mock_aws():
        metrics = EndpointMetrics(DEFAULT_ACCOUNT_ID, DEFAULT_REGION).install()
        try:
            for _ in range(3):
                metrics.record("ep", VARIANT, model_s=0.050, overhead_s=0.0004, status=200)
            start = latency_split.window_start(is_local=True)
            for _ in range(N):
                metrics.record("ep", VARIANT, model_s=0.010, overhead_s=0.0004, status=200)
            cw = boto3.client("cloudwatch", region_name=DEFAULT_REGION)
            points = cw.get_metric_statistics(
                Namespace=NAMESPACE, MetricName="ModelLatency", Period=60, Statistics=["SampleCount", "Sum"],
                Dimensions=[{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": VARIANT}],
                StartTime=start, EndTime=start + dt.timedelta(minutes=1))["Datapoints"]
            assert sum(p["SampleCount"] for p in points) == N
            assert latency_split.mean_of(points) == pytest.approx(10_000)
        finally:
            metrics.uninstall()


@pytest.mark.slow
def test_n_invocations_of_a_local_endpoint_are_n_samples(local_backend, model_archive):
    credentials = {"region_name": local_backend.region, **DUMMY_CREDENTIALS}
    s3, sm, cw = (boto3.client(s, endpoint_url=local_backend.endpoint_url, **credentials)
                  for s in ("s3", "sagemaker", "cloudwatch"))
    runtime = boto3.client("sagemaker-runtime", endpoint_url=local_backend.runtime_url,
                           config=Config(read_timeout=120), **credentials)
    name = "metrics-cat"
    s3.create_bucket(Bucket="neo-workshop-metrics-tests")
    s3.put_object(Bucket="neo-workshop-metrics-tests", Key="model.tar.gz", Body=model_archive.read_bytes())
    sm.create_model(ModelName=name, ExecutionRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/r", PrimaryContainer={
        "Image": "local/pytorch-inference", "ModelDataUrl": "s3://neo-workshop-metrics-tests/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": VARIANT, "ModelName": name, "InstanceType": "ml.c5.xlarge", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 180})
        for _ in range(N):
            runtime.invoke_endpoint(EndpointName=name, Body=CAT_JPEG.read_bytes(), ContentType="image/jpeg")["Body"].read()
        for metric in ("ModelLatency", "OverheadLatency", "Invocations"):
            found = stats(cw, name, metric)
            assert found["SampleCount"] == N, f"{metric}: {found}"
        assert stats(cw, name, "Invocations")["Sum"] == N

        # the entry script's per-request handler times, read from the endpoint's log group as on AWS
        logs = boto3.client("logs", endpoint_url=local_backend.endpoint_url, **credentials)
        events = logs.filter_log_events(logGroupName=f"/aws/sagemaker/Endpoints/{name}",
                                        filterPattern='"handler times"')["events"]
        assert len(events) == N and all("input_fn=" in e["message"] and "predict_fn=" in e["message"] for e in events)
        assert {e["logStreamName"] for e in events} == {f"{VARIANT}/local"}
        assert abs(events[-1]["timestamp"] / 1000 - time.time()) < 120
        with pytest.raises(runtime.exceptions.ModelError):
            runtime.invoke_endpoint(EndpointName=name, Body=b"a,b", ContentType="text/csv")
        assert stats(cw, name, "Invocation4XXErrors")["Sum"] == 1
        assert stats(cw, name, "Invocation5XXErrors") | {"Unit": None} == {
            "SampleCount": N + 1, "Sum": 0, "Maximum": 0, "Unit": None}

        # the boto3-only client script reads the same numbers, in a process of its own
        env = {**os.environ, **control.env_vars(local_backend)}
        script = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "endpoint_metrics.py"), name,
                                 "--invoke", "3", "--image", str(CAT_JPEG), "--json", "--wait", "30"],
                                env=env, capture_output=True, text=True, check=True, timeout=120)
        read = json.loads(script.stdout)
        assert read["Invocations"]["Sum"] == N + 1 + 3 and read["ModelLatency"]["SampleCount"] == N + 1 + 3
    finally:
        sm.delete_endpoint(EndpointName=name)
        wait_until(lambda: name not in {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]},
                   timeout_s=30, interval_s=0.2, timeout_message=f"{name} not deleted")

"""Benchmark: where the local endpoints' time goes, one client, a small JPEG.

Deploys notebook 05's two endpoints (uncompiled and compiled, from the work directory notebooks
01-04 filled) on the local backend, invokes each N times from one client, then prints per
endpoint: the client round trip, ModelLatency and OverheadLatency from CloudWatch (means), the
median OverheadLatency (the gateway's own time, from its timing header: CloudWatch on `local`
returns no percentiles), round trip minus ModelLatency (mean, and median call by call from the
gateway's headers, then the same for a plain urllib3 POST: the difference is boto3's own work in
the client), and the entry script's handler times from the endpoint's log. No threshold is
asserted: the figures are printed.

    NEO_WORKSHOP_WORK_DIR=work .venv/bin/python tools/endpoint_overhead.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from helpers import aws, endpoints, images, latency_split, paths  # noqa: E402
from helpers.local_names import MODEL_MS_HEADER  # noqa: E402

PREFIX = "neo-workshop-overhead"


def small_jpeg() -> bytes:
    """The first sample photo at 256 px on its short side (what the model resizes to anyway)."""
    image = Image.open(images.sample_images()[0]).convert("RGB")
    image.thumbnail((256 * image.width // min(image.size), 256 * image.height // min(image.size)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def raw_rest_ms(url: str, body: bytes, repeats: int) -> list[float]:
    """Round trip minus ModelLatency per call for a plain urllib3 POST (unsigned: the local gateway
    checks no signature), on one kept-alive connection as boto3 uses: what the local backend and the
    HTTP hop cost without botocore's work in the client."""
    import time

    import urllib3

    rest = []
    with urllib3.connection_from_url(url, retries=False) as pool:
        for i in range(10 + repeats):
            started = time.perf_counter_ns()
            answer = pool.request("POST", urllib3.util.parse_url(url).request_uri, body=body,
                                  headers={"Content-Type": "image/jpeg"})
            if answer.status != 200:
                raise RuntimeError(f"plain POST to {url}: {answer.status} {answer.data[:300]!r}")
            elapsed_ms = (time.perf_counter_ns() - started) / 1e6
            if i >= 10:
                rest.append(elapsed_ms - float(answer.headers[MODEL_MS_HEADER]))
    return rest


def handler_messages(logs: object, name: str, start: dt.datetime, expected: int) -> list[str]:
    """The entry script's `handler times` lines since `start`, waiting briefly until `expected` are
    there (the endpoint's log reaches CloudWatch Logs as the server writes it); fewer if they are not."""
    def read() -> list[str]:
        return [e["message"] for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=f"/aws/sagemaker/Endpoints/{name}", filterPattern='"handler times"',
            startTime=int(start.timestamp() * 1000)) for e in page["events"]]

    with contextlib.suppress(TimeoutError):
        latency_split.wait_for_counts(lambda: {name: len(read())}, expected, "handler times", timeout_s=10, interval_s=0.5)
    return read()[-expected:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args(argv)

    backend = aws.connect("local", args.work_dir)
    work, sm, smr = backend.work_dir, backend.client("sagemaker"), backend.client("sagemaker-runtime")
    cw, logs = backend.client("cloudwatch"), backend.client("logs")
    state = {key: paths.require_state(work, key, made_by="02_compile.ipynb")
             for key in ("model_uri", "compiled_model_uri", "inference_image")}
    # A local backend forgets S3 when it stops: put back the archives notebooks 01 and 02 left in the work dir.
    target = paths.require_state(work, "target_device", made_by="02_compile.ipynb")
    s3 = backend.client("s3")
    for uri, file in ((state["model_uri"], Path(paths.require_state(work, "model_archive", made_by="01_trace.ipynb"))),
                      (state["compiled_model_uri"], work / "compiled" / f"model-{target}.tar.gz")):
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        s3.upload_file(str(file), bucket, key)
    endpoints.delete_workshop_endpoints(sm, PREFIX)
    deployed = {
        "uncompiled": endpoints.deploy(sm, f"{PREFIX}-uncompiled", state["model_uri"],
                                       aws.pytorch_inference_image(backend, "2.0", "ml.c5.xlarge"), backend.role_arn, "ml.c5.xlarge"),
        "compiled": endpoints.deploy(sm, f"{PREFIX}-compiled", state["compiled_model_uri"], state["inference_image"],
                                     backend.role_arn, "ml.c5.xlarge"),
    }
    try:
        endpoints.wait_for_endpoints(sm, list(deployed.values()))
        body = small_jpeg()
        print(f"one client, a {len(body) / 1024:.0f} KB JPEG, {args.repeats} invocations per endpoint (after 10 warm-up)")
        for label, name in deployed.items():
            endpoints.time_endpoint(smr, name, body, "image/jpeg", repeats=10, warmup=0)
            start = latency_split.window_start(is_local=True)  # moto truncates StartTime to the second
            timing = endpoints.time_endpoint(smr, name, body, "image/jpeg", repeats=args.repeats, warmup=0)
            end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
            means = {}
            for metric in ("ModelLatency", "OverheadLatency"):
                means[metric] = latency_split.mean_of(cw.get_metric_statistics(
                    Namespace="AWS/SageMaker", MetricName=metric, StartTime=start, EndTime=end, Period=60,
                    Dimensions=[{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}],
                    Statistics=["SampleCount", "Sum"])["Datapoints"])
            messages = handler_messages(logs, name, start, args.repeats)
            parts = latency_split.split(timing["round_trip_ms"], means["ModelLatency"], means["OverheadLatency"],
                                        latency_split.handler_times(messages))
            print(f"\n{label} ({name}):")
            for part, ms in parts.items():
                print(f"  {part:38s} {ms:8.3f} ms (mean)")
            print(f"  {'OverheadLatency median':38s} {statistics.median(timing['gateway_ms']):8.3f} ms")
            predict = latency_split.handler_samples(messages)["predict_fn"]
            if len(predict) >= 2:
                deciles = statistics.quantiles(predict, n=10)
                print(f"  {'predict_fn p10 / median / p90':38s} {deciles[0]:.1f} / {statistics.median(predict):.1f} / "
                      f"{deciles[-1]:.1f} ms ({len(predict)} log lines)")
            print(f"  {'round trip - ModelLatency':38s} {parts['round trip'] - parts['ModelLatency']:8.3f} ms (mean)")
            if len(timing["model_ms"]) == len(timing["round_trip_ms"]):  # the gateway's headers, call by call
                rest = [rt - ml for rt, ml in zip(timing["round_trip_ms"], timing["model_ms"], strict=True)]
                print(f"  {'round trip - ModelLatency median':38s} {statistics.median(rest):8.3f} ms "
                      f"(p90 {statistics.quantiles(rest, n=10)[-1]:.3f})")
                # after the log lines are read (these calls log too): the same POST without botocore
                raw = raw_rest_ms(f"{smr.meta.endpoint_url}/endpoints/{name}/invocations", body, args.repeats)
                print(f"  {'  the same, plain urllib3 (no boto3)':38s} {statistics.median(raw):8.3f} ms "
                      f"(boto3's own request building, signing and parsing: the difference, as on AWS)")
    finally:
        endpoints.delete_workshop_endpoints(sm, PREFIX)
    return 0


if __name__ == "__main__":
    sys.exit(main())

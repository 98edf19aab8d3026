"""Read a SageMaker endpoint's invocation metrics from CloudWatch, with boto3 only.

The same code reads real SageMaker's metrics and the local backend's (which publishes them into
its own CloudWatch, helpers/local/endpoint_metrics.py): point boto3 at the backend first with
`eval "$(python -m helpers local env)"`, or use your AWS credentials as they are.

    .venv/bin/python tools/endpoint_metrics.py ENDPOINT [--variant AllTraffic] [--minutes 60]
    .venv/bin/python tools/endpoint_metrics.py ENDPOINT --invoke 20 --image data/chelsea.jpg --json

With --invoke N it first sends N invocations, then waits until CloudWatch counts them (on AWS the
data points arrive a few minutes late). Metric names, units and statistics:
https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html (endpoint invocation
metrics; ModelLatency and OverheadLatency in microseconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import boto3

NAMESPACE = "AWS/SageMaker"
METRICS = ("Invocations", "ModelLatency", "OverheadLatency", "Invocation4XXErrors", "Invocation5XXErrors")
STATISTICS = ["SampleCount", "Sum", "Average", "Maximum"]  # standard statistics (percentiles: ExtendedStatistics)


def statistics(cw, endpoint: str, variant: str, start: dt.datetime, end: dt.datetime) -> dict[str, dict[str, float]]:
    """{metric: {SampleCount, Sum, Average, Maximum}} over the window, all periods together."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    found: dict[str, dict[str, float]] = {}
    for metric in METRICS:
        points = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName=metric, Dimensions=dimensions,
                                          StartTime=start, EndTime=end, Period=60, Statistics=STATISTICS)["Datapoints"]
        count = sum(p["SampleCount"] for p in points)
        total = sum(p["Sum"] for p in points)
        found[metric] = {"SampleCount": count, "Sum": total, "Average": total / count if count else 0.0,
                         "Maximum": max((p["Maximum"] for p in points), default=0.0)}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("endpoint")
    parser.add_argument("--variant", default="AllTraffic")
    parser.add_argument("--minutes", type=int, default=60, help="how far back to read (default 60)")
    parser.add_argument("--invoke", type=int, default=0, help="send N invocations first, then wait for their data points")
    parser.add_argument("--image", type=Path, default=Path("data/chelsea.jpg"))
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for the data points (default 600)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    cw = boto3.client("cloudwatch")
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=args.minutes)
    end = lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)  # noqa: E731
    before = statistics(cw, args.endpoint, args.variant, start, end())["Invocations"]["SampleCount"]
    if args.invoke:
        runtime, body = boto3.client("sagemaker-runtime"), args.image.read_bytes()
        for _ in range(args.invoke):
            runtime.invoke_endpoint(EndpointName=args.endpoint, Body=body, ContentType="application/x-image")["Body"].read()
    deadline = time.monotonic() + args.wait
    while True:
        found = statistics(cw, args.endpoint, args.variant, start, end())
        if found["Invocations"]["SampleCount"] >= before + args.invoke or time.monotonic() > deadline:
            break
        print(f"waiting for CloudWatch: {found['Invocations']['SampleCount'] - before:.0f} of {args.invoke} counted",
              file=sys.stderr)
        time.sleep(15)
    if args.json:
        print(json.dumps(found))
        return 0
    print(f"{args.endpoint} / {args.variant}, last {args.minutes} min ({NAMESPACE}):")
    for metric, values in found.items():
        unit = " us" if metric.endswith("Latency") else ""
        print(f"  {metric:20s} " + "  ".join(f"{k} {v:,.1f}{unit if k in ('Average', 'Maximum') else ''}"
                                            for k, v in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

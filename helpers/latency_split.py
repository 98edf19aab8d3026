"""Where an endpoint's time goes: SageMaker's CloudWatch metrics and the entry script's log, combined.

Notebook 05 makes the boto3 calls (`cloudwatch.get_metric_statistics`, `logs.filter_log_events`);
this module holds what would distract from them: a window that starts on a whole minute, the wait
(with a progress display) until CloudWatch has counted every invocation, the parsing of the entry
script's `handler times` lines, and the arithmetic of the split.

Facts relied on (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html):
ModelLatency and OverheadLatency are in microseconds; ModelLatency is the container's time as
SageMaker sees it (the local hop to it included), OverheadLatency SageMaker's own from receiving the
request to answering it, minus ModelLatency; endpoint invocation metrics are available at a
1-minute frequency. GetMetricStatistics rounds a StartTime of less than 15 days ago down to the
whole minute (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html),
so a window meant to hold only the invocations made after it opens must start on a minute.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

HANDLERS = ("input_fn", "predict_fn", "output_fn")
_HANDLER_TIME = re.compile(r"(input_fn|predict_fn|output_fn)=([0-9.]+)ms")


def window_start(is_local: bool) -> dt.datetime:
    """The start of a window holding only the invocations made after it opens, waited for.

    GetMetricStatistics truncates StartTime: AWS to the whole minute (see above), moto 5.2's to the
    whole second (`CloudWatchBackend.get_metric_statistics`: `start_time.replace(microsecond=0)`).
    A start taken "now" would so count the last invocations of the cell before; starting on the
    next whole minute (AWS) or second (`local`, whose data points keep their exact time) does not.
    """
    now = dt.datetime.now(dt.timezone.utc)
    if is_local:
        start = now.replace(microsecond=0) + dt.timedelta(seconds=1)
    else:
        start = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        print(f"waiting {(start - now).total_seconds():.0f} s for the next whole minute (CloudWatch's periods start on one)")
    time.sleep((start - now).total_seconds())
    return start


def wait_for_counts(read: Callable[[], dict[str, float]], expected: int, what: str, *, timeout_s: float = 900,
                    interval_s: float = 15) -> dict[str, float]:
    """Call `read` ({label: count so far}) until every count reaches `expected`, showing progress;
    a count above `expected` means the window holds invocations it should not, and raises.

    On AWS, SageMaker publishes its metrics at a 1-minute frequency, so they arrive a while after
    the invocations (log lines too, sooner); on `local` they are there at once. Raises TimeoutError saying what
    is missing after `timeout_s`.
    """
    from helpers.progress import StatusLine

    started = time.monotonic()
    counts = read()
    with StatusLine(f"{what}: reading") as bar:
        while any(value < expected for value in counts.values()):
            waited = time.monotonic() - started
            bar.set(f"{what}: " + " | ".join(f"{k} {v:.0f}/{expected}" for k, v in counts.items())
                                    + f" ({waited:.0f} s; SageMaker publishes once a minute)")
            if waited > timeout_s:
                raise TimeoutError(f"{what}: only {counts} of {expected} each after {timeout_s:.0f} s.")
            time.sleep(interval_s)
            counts = read()
        bar.set(f"{what}: " + " | ".join(f"{k} {v:.0f}" for k, v in counts.items())
                                + f" ({time.monotonic() - started:.0f} s)")
    extra = {k: v for k, v in counts.items() if v > expected}
    if extra:
        raise RuntimeError(f"{what}: counted {extra} in the window, more than the {expected} each that were made: "
                           "something else invoked the endpoint while it was timed. Run the timing cell again.")
    return counts


def mean_of(datapoints: list[dict[str, Any]]) -> float:
    """The mean over every data point of a GetMetricStatistics answer (Sum / SampleCount, all periods)."""
    count = sum(p["SampleCount"] for p in datapoints)
    return sum(p["Sum"] for p in datapoints) / count if count else float("nan")


def handler_samples(messages: list[str]) -> dict[str, list[float]]:
    """Every ms value per handler in the entry script's `handler times` log lines, in order."""
    found: dict[str, list[float]] = {name: [] for name in HANDLERS}
    for message in messages:
        for name, value in _HANDLER_TIME.findall(message):
            found[name].append(float(value))
    return found


def handler_times(messages: list[str]) -> dict[str, float]:
    """Mean ms per handler over the entry script's `handler times` log lines."""
    return {name: statistics.fmean(values) if values else 0.0 for name, values in handler_samples(messages).items()}


def split(round_trip_ms: list[float], model_us: float, overhead_us: float, handlers_ms: dict[str, float]) -> dict[str, float]:
    """One endpoint's mean client round trip in parts (ms): the handlers inside ModelLatency, the rest
    of ModelLatency (the model server's request handling and the hop to it), OverheadLatency, and
    what neither metric covers (the client, the network: round trip minus both)."""
    model_ms, overhead_ms = model_us / 1000, overhead_us / 1000
    round_trip = statistics.fmean(round_trip_ms)
    handlers = sum(handlers_ms.values())
    return {"round trip": round_trip, "ModelLatency": model_ms, "OverheadLatency": overhead_ms,
            "preprocessing (input_fn)": handlers_ms.get("input_fn", 0.0),
            "model (predict_fn)": handlers_ms.get("predict_fn", 0.0),
            "answer (output_fn)": handlers_ms.get("output_fn", 0.0),
            "model server (rest of ModelLatency)": max(model_ms - handlers, 0.0),
            "client and network": round_trip - model_ms - overhead_ms}

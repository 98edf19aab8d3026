"""SageMaker's endpoint invocation metrics, published into the local backend's CloudWatch (moto's).

Every real-time endpoint on SageMaker publishes, per InvokeEndpoint, metrics in the
`AWS/SageMaker` namespace with the dimensions EndpointName and VariantName
(https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html, "SageMaker AI
endpoint invocation metrics", and awsdocs/amazon-sagemaker-developer-guide
doc_source/monitoring-cloudwatch.md):

| metric | value per invocation | unit | statistics the docs list |
|---|---|---|---|
| Invocations | 1 ("use the Sum statistic") | None | Sum |
| InvocationsPerInstance | 1 / instances of the variant | None | Sum |
| ModelLatency | time to the container and back, inference included | Microseconds | Average, Sum, Min, Max, Sample Count |
| OverheadLatency | from receiving the request to answering it, minus ModelLatency | Microseconds | Average, Sum, Min, Max, Sample Count |
| Invocation4XXErrors | 1 if the model answered 4xx, else 0 | None | Average, Sum |
| Invocation5XXErrors | 1 if the model answered 5xx, else 0 | None | Average, Sum |

The gateway (helpers.local.gateway) measures both latencies of each invocation and calls
`EndpointMetrics.record`; moto's CloudWatch then returns them to `get_metric_statistics`,
`get_metric_data` and `list_metrics` like any other metric, because `install()` wraps
`CloudWatchBackend.get_all_metrics` (what all three read) to add them: SageMaker, not the user,
publishes these (PutMetricData refuses namespaces starting with "AWS/"), so they are not put
through PutMetricData. The gateway and moto share the backend process (helpers.local.server),
so nothing travels over HTTP. Local choices, said where they differ: a model server that never
answered (a crash, OriginalStatusCode 0) counts as a 5xx; invocations refused before they reach
a container (unknown endpoint, body over 6 MB, 503 while a server is replaced) publish nothing,
as they never reach "the model". Data points appear at once (SageMaker's arrive at a 1-minute
frequency, a few minutes late): the gateway records an invocation just after its answer is sent
(`record_later`, so the client does not wait for it), and a read waits for those in flight.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from helpers.local import moto_patch

NAMESPACE = "AWS/SageMaker"
PATCH_NAME = "endpoint-metrics"
MAX_DATAPOINTS = 100_000  # oldest dropped first: a long load test must not grow the backend without bound
IN_FLIGHT_WAIT_S = 2.0  # a read waits at most this long for invocations answered but not yet recorded

MOTO_INTERNALS = {
    # wrapped: what GetMetricStatistics, GetMetricData and ListMetrics read
    "moto.cloudwatch.models.CloudWatchBackend": ("get_all_metrics", "account_id", "region_name"),
    # built: one per data point, as moto stores a PutMetricData value
    "moto.cloudwatch.models.MetricDatum": ("namespace", "name", "value", "dimensions", "timestamp", "unit"),
}


class EndpointMetrics:
    """The data points the local endpoints published; thread-safe (every gateway thread records)."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id, self.region = account_id, region
        self._points: deque[Any] = deque(maxlen=MAX_DATAPOINTS)
        self._lock = threading.Lock()
        self._recorded = threading.Condition(self._lock)
        self._in_flight = 0

    def record_later(self, endpoint: str, variant: str, **invocation: Any) -> Callable[[], None]:
        """`record(endpoint, variant, **invocation)` to call once the answer is sent; until it is
        called (once), reads wait for it: the answer a client holds is always counted."""
        with self._lock:
            self._in_flight += 1
        done = threading.Event()

        def record() -> None:
            if done.is_set():
                return
            done.set()
            try:
                self.record(endpoint, variant, **invocation)
            finally:
                with self._recorded:
                    self._in_flight -= 1
                    self._recorded.notify_all()

        return record

    def record(self, endpoint: str, variant: str, *, model_s: float, overhead_s: float, status: int,
               instances: int = 1) -> None:
        """One invocation that reached the container: its latencies and its (container's) status.

        `status` 0 means the container never answered (counted as a 5xx error, see above).
        """
        from moto.cloudwatch.models import MetricDatum

        dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        server_error = status == 0 or status >= 500
        values = (
            ("Invocations", 1.0, "None"),
            ("InvocationsPerInstance", 1.0 / max(instances, 1), "None"),
            ("ModelLatency", model_s * 1e6, "Microseconds"),
            ("OverheadLatency", overhead_s * 1e6, "Microseconds"),
            ("Invocation4XXErrors", 1.0 if 400 <= status < 500 else 0.0, "None"),
            ("Invocation5XXErrors", 1.0 if server_error else 0.0, "None"),
        )
        points = [MetricDatum(NAMESPACE, name, value, dimensions, None, unit) for name, value, unit in values]
        with self._lock:
            self._points.extend(points)

    def datapoints(self, account_id: str, region: str) -> list[Any]:
        """A copy of the data points, for the one account and region the backend serves."""
        if (account_id, region) != (self.account_id, self.region):
            return []
        with self._recorded:
            self._recorded.wait_for(lambda: self._in_flight == 0, timeout=IN_FLIGHT_WAIT_S)
            return list(self._points)

    # ----------------------------------------------------------------- moto patch
    def install(self) -> EndpointMetrics:
        """Make moto's CloudWatch return these data points (call before moto serves requests)."""
        moto_patch.install(PATCH_NAME, self._patch)
        return self

    def uninstall(self) -> None:
        moto_patch.uninstall(PATCH_NAME)

    def _patch(self, patch: moto_patch.MotoPatch) -> None:
        from moto.cloudwatch.models import CloudWatchBackend

        def get_all_metrics(original: Any, backend: Any) -> list[Any]:
            return [*original(backend), *self.datapoints(backend.account_id, backend.region_name)]

        patch.wrap(CloudWatchBackend, "get_all_metrics", get_all_metrics)

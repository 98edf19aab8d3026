"""The local endpoints' model-server logs, readable through CloudWatch Logs as on SageMaker.

SageMaker sends what an endpoint's containers write to the log group
`/aws/sagemaker/Endpoints/[EndpointName]`, one stream per instance, `[production-variant-name]/
[instance-id]` ("Log groups and streams that Amazon SageMaker AI sends to Amazon CloudWatch
Logs", https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html). Locally each
endpoint's model server appends to `<work>/local-aws/endpoints/<name>/model-server.log`; this
patch makes moto's `FilterLogEvents` on such a group first copy the lines added since the last
call into moto's CloudWatch Logs (group created on first use, stream `<variant>/local`), so a
boto3 `logs.filter_log_events(logGroupName=...)` reads them on both backends. Each line's
timestamp is the one the model server's log format writes (local time, as `%(asctime)s`); a
line without one (a traceback's) takes the line before's. Nothing is copied in the request path:
invocations pay nothing for it.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from helpers.local import moto_patch
from helpers.paths import inside

GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
PATCH_NAME = "endpoint-logs"
BATCH = 5_000  # events per put (PutLogEvents takes at most 10,000)
LINE_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")

MOTO_INTERNALS = {
    # wrapped: copy new lines first; called: the group, stream and events are created as PutLogEvents would
    "moto.logs.models.LogsBackend": ("filter_log_events", "groups", "create_log_group", "create_log_stream",
                                     "put_log_events"),
}


class EndpointLogs:
    """Copies each endpoint's new log lines into moto's CloudWatch Logs when they are read."""

    def __init__(self, endpoints_dir: Path, log_name: str, variant_of: Any) -> None:
        self.endpoints_dir, self.log_name, self.variant_of = endpoints_dir, log_name, variant_of
        self._copied: dict[str, int] = {}  # endpoint -> bytes of its log already copied
        self._last_ms: dict[str, int] = {}
        self._lock = threading.Lock()

    def install(self) -> EndpointLogs:
        moto_patch.install(PATCH_NAME, self._patch)
        return self

    def uninstall(self) -> None:
        moto_patch.uninstall(PATCH_NAME)

    def _patch(self, patch: moto_patch.MotoPatch) -> None:
        from moto.logs.models import LogsBackend

        def filter_log_events(original: Any, backend: Any, log_group_name: str, *args: Any, **kwargs: Any) -> Any:
            if log_group_name.startswith(GROUP_PREFIX):
                self.copy(backend, log_group_name[len(GROUP_PREFIX):])
            return original(backend, log_group_name, *args, **kwargs)

        patch.wrap(LogsBackend, "filter_log_events", filter_log_events)

    def copy(self, backend: Any, endpoint: str) -> None:
        """Put the lines `endpoint`'s log gained since the last copy (whole lines only)."""
        try:
            log_file = inside(self.endpoints_dir, endpoint) / self.log_name
        except ValueError:  # a name that would leave the endpoints directory has no log
            return
        with self._lock:
            if not log_file.is_file():
                return
            start = self._copied.get(endpoint, 0)
            if log_file.stat().st_size < start:  # a new log under the same name (endpoint re-created)
                start = 0
            with log_file.open("rb") as handle:
                handle.seek(start)
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]
            self._copied[endpoint] = start + len(complete)
            events = self._events(endpoint, complete.decode("utf-8", errors="replace").splitlines())
            if events:
                self._put(backend, endpoint, events)

    def _events(self, endpoint: str, lines: list[str]) -> list[dict[str, Any]]:
        events = []
        last = self._last_ms.get(endpoint, 0)
        for line in lines:
            if match := LINE_TIME.match(line):
                stamp = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
                last = max(last, int(stamp * 1000) + int(match.group(2)))  # PutLogEvents wants them in order
            elif not last:
                last = int(time.time() * 1000)
            if line.strip():
                events.append({"timestamp": last, "message": line})
        self._last_ms[endpoint] = last
        return events

    def _put(self, backend: Any, endpoint: str, events: list[dict[str, Any]]) -> None:
        group, stream = GROUP_PREFIX + endpoint, f"{self.variant_of(endpoint)}/local"
        if group not in backend.groups:
            backend.create_log_group(group, tags={})
        if stream not in backend.groups[group].streams:
            backend.create_log_stream(group, stream)
        for first in range(0, len(events), BATCH):
            backend.put_log_events(group, stream, events[first:first + BATCH])

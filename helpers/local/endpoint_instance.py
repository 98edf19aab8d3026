"""One model server behind a local endpoint: what SageMaker calls an instance of a production variant.

Hosting creates an `Instance` on CreateEndpoint; on UpdateEndpoint it creates a second one from
the new endpoint config and moves traffic to it once it is healthy, then stops the first (the
blue/green update the UpdateEndpoint documentation describes: "SageMaker launches another set of
ML compute instances ... Then it runs a command to stop the previous Docker containers",
https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html). When an
instance's model server dies, hosting starts it again on the same model data, as SageMaker
replaces an instance that stops answering its health check; `RestartBudget` bounds how often,
so a server that keeps dying fails its endpoint instead of restarting forever.

An instance owns `<endpoint dir>/<instance dir>/model` (its extracted model data) and appends to
the endpoint's `model-server.log`. `stop()` is final: an instance stopped while it is still
launching never starts a process afterwards, so a DeleteEndpoint that races a start leaves nothing.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen, TimeoutExpired

from helpers.local import model_server
from helpers.local.hosting_steps import EndpointFailure, ping, with_log
from helpers.local.processes import free_port, stop_process
from helpers.local_names import HOST
from helpers.polling import wait_until

PORT_ATTEMPTS = 3  # a port taken between our choice and the server's bind: try another one
PING_INTERVAL_S = 0.2

log = logging.getLogger(__name__)


class InstanceStopped(Exception):
    """The instance was stopped (its endpoint deleted, the backend stopping) while it started."""


@dataclass
class RestartBudget:
    """At most `limit` restarts within any `window_s` seconds; the next death within it is final."""

    limit: int = 3
    window_s: float = 300.0
    restarts: deque[float] = field(default_factory=deque)

    def allow(self, now: float | None = None) -> bool:
        """Record a death at `now`; True when one more restart is within the budget."""
        now = time.monotonic() if now is None else now
        while self.restarts and now - self.restarts[0] > self.window_s:
            self.restarts.popleft()
        if len(self.restarts) >= self.limit:
            return False
        self.restarts.append(now)
        return True

    def describe(self) -> str:
        return f"{len(self.restarts)} of {self.limit} restarts within {self.window_s:.0f} s"


@dataclass
class Instance:
    """One model-server process serving one endpoint config's production variant."""

    endpoint_name: str
    config_name: str
    variant_name: str
    directory: Path  # holds model/ (the extracted ModelDataUrl); removed by discard()
    log_path: Path
    environment: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: Popen[bytes] | None = None
    stopped: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model_dir(self) -> Path:
        return self.directory / "model"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        """Its process runs (False before the first launch and after an exit or a stop)."""
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def settled_exit_code(self, wait_s: float = 0.5) -> int | None:
        """The exit code, waiting up to `wait_s` for it: a killed server resets its connections a
        moment before it can be reaped, and poll() answers None while another thread reaps it."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=wait_s)
        except TimeoutExpired:
            return None

    def note(self, line: str) -> None:
        """Add a line of hosting's own to the model server's log (a replacement, a traffic switch)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} hosting: {line}\n")

    # ----------------------------------------------------------------- start
    def start(self, timeout_s: float, cancelled: threading.Event | None = None) -> None:
        """Launch the model server and wait until /ping answers 200.

        Raises EndpointFailure (exited before answering, or not healthy within `timeout_s`; the
        process is stopped then) or InstanceStopped. A port taken by someone else between our
        choice and the server's bind is retried on a new port, up to PORT_ATTEMPTS times.
        """
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._launch()
            code = self._wait_healthy(timeout_s, cancelled)
            if code is None:
                return
            if code == model_server.EXIT_PORT_IN_USE and attempt < PORT_ATTEMPTS:
                log.warning("endpoint %s: port %d was taken, launching again on another", self.endpoint_name, self.port)
                continue
            raise EndpointFailure(with_log(
                f"The model server exited with code {code} before answering /ping: "
                "check model_fn in code/inference.py and the model files.", self.log_path))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _launch(self) -> None:
        with self._lock:
            if self.stopped:
                raise InstanceStopped
            self.port = free_port()
            self.process = model_server.launch(self.model_dir, self.port, self.log_path, self.environment)
        log.info("endpoint %s: model server pid %d on port %d (%s)", self.endpoint_name, self.process.pid,
                 self.port, self.config_name)

    def _wait_healthy(self, timeout_s: float, cancelled: threading.Event | None) -> int | None:
        """None once /ping says 200; the exit code if the server exits first."""
        process = self.process
        assert process is not None

        def settled() -> bool:
            if self.stopped or (cancelled is not None and cancelled.is_set()):
                raise InstanceStopped
            return process.poll() is not None or ping(self.port)

        try:
            wait_until(settled, timeout_s=timeout_s, interval_s=PING_INTERVAL_S)
        except TimeoutError:
            stop_process(process)
            raise EndpointFailure(with_log(
                f"The model server did not pass the /ping health check within {timeout_s:.0f} s: "
                "the model may be too slow to load on this machine.", self.log_path)) from None
        return process.poll()

    # ----------------------------------------------------------------- stop
    def stop(self) -> None:
        """Stop the process for good (SIGTERM, then SIGKILL): no launch happens after this."""
        with self._lock:
            self.stopped = True
            process = self.process
        if process is not None:
            stop_process(process)

    def terminate(self) -> None:
        """Send SIGTERM without waiting (the backend stops every server at once, then waits)."""
        with self._lock:
            self.stopped = True
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()

    def discard(self) -> None:
        """Stop, then delete this instance's model data."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

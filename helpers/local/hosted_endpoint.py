"""One local endpoint's life, as SageMaker runs it: create, keep healthy, update, stop.

A `HostedEndpoint` is the running side of moto's FakeEndpoint (which stays the resource that
DescribeEndpoint serialises: this module sets its status, FailureReason, config and variants).
One worker thread per endpoint does everything that takes time, in order, so nothing races:

- create: the endpoint config's first production variant -> its model -> the container's
  ModelDataUrl and Environment (`hosting_steps`), model data fetched into an instance directory,
  the model server started (`endpoint_instance.Instance`): Creating -> InService, or Failed with
  a FailureReason that ends with the server's log;
- watch: a model server that exits while InService is started again on the same model data
  (InService all along; invocations meanwhile answer 503 ServiceUnavailable, see the gateway),
  at most `restart_limit` times within `restart_window_s`; one more death fails the endpoint;
- update (UpdateEndpoint): Updating while a second instance starts from the new endpoint config;
  traffic moves when it is healthy, then the old instance is stopped and its files deleted:
  InService on the new config. If the new instance fails, the old one keeps serving and the
  endpoint returns to InService on the old config with a FailureReason, as SageMaker does
  (aws-controllers-k8s/sagemaker-controller#7: "If an update fails, the endpoint goes back to
  InService state with a FailureReason about the error").

Files: `<state>/endpoints/<name>/instance-<n>/model` per instance and `model-server.log`, which
outlives DeleteEndpoint like a CloudWatch log (a few KB; replaced when the name is used again).
"""

from __future__ import annotations

import itertools
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from helpers.local.endpoint_instance import Instance, InstanceStopped, RestartBudget
from helpers.local.hosting_steps import (
    EndpointFailure,
    container_environment,
    fetch_model,
    resolve_container,
    with_log,
)
from helpers.sagemaker_facts import MAX_FAILURE_REASON_CHARS

LOG_NAME = "model-server.log"
WATCH_INTERVAL_S = 0.5
RETIRE_GRACE_S = 1.0  # invocations already sent to an old instance finish before it is stopped

log = logging.getLogger("helpers.local.hosting_service")


class Route(NamedTuple):
    """Where the gateway sends an endpoint's invocations; `ready` is False while it is replaced."""

    url: str
    variant_name: str
    ready: bool = True


@dataclass(frozen=True)
class HostingOptions:
    startup_timeout_s: float = 120.0
    restart_limit: int = 3
    restart_window_s: float = 300.0
    standin_modules: str | None = None  # the aws-fidelity stand-in's `neopytorch` (hosting_steps.container_environment)


@dataclass
class HostedEndpoint:
    """One endpoint: its instances, its status, its worker. `lock` orders the worker against requests."""

    name: str
    endpoint: Any  # moto's FakeEndpoint: what DescribeEndpoint shows
    directory: Path  # <state>/endpoints/<name>, built with helpers.paths.inside
    s3: Callable[[], Any]
    options: HostingOptions = field(default_factory=HostingOptions)
    status: str = "Creating"
    serving: Instance | None = None
    pending: Instance | None = None
    replacing: bool = False
    cancelled: threading.Event = field(default_factory=threading.Event)
    updates: queue.Queue[str | None] = field(default_factory=queue.Queue)
    budget: RestartBudget = field(default_factory=RestartBudget)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None
    _counter: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.budget = RestartBudget(self.options.restart_limit, self.options.restart_window_s)

    @property
    def log_path(self) -> Path:
        return self.directory / LOG_NAME

    def set_status(self, status: str, reason: str | None = None) -> None:
        """Change what DescribeEndpoint reports (moto's FakeEndpoint serialises these)."""
        from moto.core.utils import utcnow

        self.status = status
        self.endpoint.endpoint_status = status
        self.endpoint.failure_reason = reason[:MAX_FAILURE_REASON_CHARS] if reason else None
        self.endpoint.last_modified_time = utcnow()

    # ----------------------------------------------------------------- queries
    def route(self) -> Route | None:
        """Where invocations go: None unless InService or Updating (the old instance serves)."""
        instance = self.serving
        if self.status not in ("InService", "Updating") or instance is None:
            return None
        return Route(instance.url, instance.variant_name, ready=instance.alive() and not self.replacing)

    def processes(self) -> list[Any]:
        return [i.process for i in (self.serving, self.pending) if i is not None and i.process is not None]

    def being_replaced(self) -> bool:
        """True when the serving model server has exited (or is being restarted): what a failed
        connection to it means, rather than an error of the model."""
        instance = self.serving
        return self.replacing or instance is None or instance.settled_exit_code() is not None

    def diagnose(self) -> str:
        """Why the model server may not answer (alive or exit code, and its log), for errors."""
        instance = self.serving
        if instance is None or instance.process is None:
            return f"endpoint {self.name} has no model server process."
        code = instance.settled_exit_code()
        state = "is running" if code is None else f"exited with code {code}"
        return f"its model server (pid {instance.process.pid}) {state}; see {self.log_path}."

    # ----------------------------------------------------------------- requests
    def start(self, backend: Any) -> None:
        """Begin Creating: a fresh directory (a re-used name starts clean), then the worker."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        self.set_status("Creating")
        self.thread = threading.Thread(target=self._run, args=(backend,), daemon=True, name=f"endpoint-{self.name}")
        self.thread.start()

    def request_update(self, config_name: str) -> None:
        """UpdateEndpoint accepted: Updating now, the worker does the rest."""
        with self.lock:
            self.set_status("Updating")
        self.updates.put(config_name)

    def stop(self, remove_files: bool = True) -> None:
        """Stop every instance (also one still starting), end the worker, delete the model data."""
        self.terminate()
        for instance in (self.serving, self.pending):
            if instance is not None:
                instance.stop()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=10)
        if remove_files:
            self.remove_model_data()

    def terminate(self) -> None:
        """Ask everything to end without waiting: SIGTERM to the servers, wake the worker."""
        self.cancelled.set()
        self.updates.put(None)
        for instance in (self.serving, self.pending):
            if instance is not None:
                instance.terminate()

    def remove_model_data(self) -> None:
        """Delete every instance directory; keep the log (what CloudWatch would keep)."""
        if self.directory.is_dir():
            for child in self.directory.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)

    # ----------------------------------------------------------------- worker
    def _run(self, backend: Any) -> None:
        try:
            instance = self._new_instance(backend, self.endpoint.endpoint_config_name, creating=True)
            self._start_instance(instance)
            with self.lock:
                if self.cancelled.is_set():
                    return
                self.set_status("InService")
            log.info("endpoint %s is InService at %s", self.name, instance.url)
            self._watch(backend)
        except InstanceStopped:
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a FailureReason
            if not self.cancelled.is_set():
                self._fail(exc)

    def _watch(self, backend: Any) -> None:
        """Until stopped: apply updates in order, replace a serving instance that died."""
        while not self.cancelled.is_set() and self.status != "Failed":
            try:
                config_name = self.updates.get(timeout=WATCH_INTERVAL_S)
            except queue.Empty:
                config_name = None
            if self.cancelled.is_set():
                return
            if config_name is not None:
                self._update(backend, config_name)
            elif self.serving is not None and not self.serving.alive():
                self._replace(self.serving)

    def _new_instance(self, backend: Any, config_name: str, *, creating: bool = False) -> Instance:
        """Resolve config -> container, register the instance (so a stop finds it), fetch its model."""
        variant, container = resolve_container(backend, config_name)
        instance = Instance(self.name, config_name, variant, self.directory / f"instance-{next(self._counter)}",
                            self.log_path, container_environment(container, self.options.standin_modules))
        with self.lock:
            if self.cancelled.is_set():
                raise InstanceStopped
            if creating:
                self.serving = instance
            else:
                self.pending = instance
        fetch_model(self.s3(), container, instance.directory)
        return instance

    def _start_instance(self, instance: Instance) -> None:
        instance.start(self.options.startup_timeout_s, self.cancelled)

    def _replace(self, instance: Instance) -> None:
        """A serving model server died: start it again, or fail the endpoint past the budget."""
        code = instance.exit_code()
        if not self.budget.allow():
            reason = (f"The model server kept exiting (last exit code {code}): it was restarted "
                      f"{self.budget.limit} times within {self.budget.window_s:.0f} s and exited again, "
                      "so the endpoint was marked Failed. Fix model_fn or the model, then delete and "
                      "re-create the endpoint.")
            instance.note(f"exit code {code}: restart budget spent, endpoint Failed")
            self._fail(EndpointFailure(with_log(reason, self.log_path)))
            return
        message = f"model server pid {instance.process.pid if instance.process else '?'} exited with code {code}: " \
                  f"starting it again ({self.budget.describe()})"
        log.warning("endpoint %s: %s", self.name, message)
        instance.note(message)
        self.replacing = True
        try:
            self._start_instance(instance)
            log.info("endpoint %s: model server replaced, pid %d", self.name, instance.process.pid)
        except EndpointFailure as exc:  # it died (or hung) again: the next watch round counts it
            log.warning("endpoint %s: the restarted model server failed: %s", self.name, str(exc).splitlines()[0])
        finally:
            self.replacing = False

    def _update(self, backend: Any, config_name: str) -> None:
        """Blue/green: start the new config's instance, switch traffic, retire the old one."""
        old = self.serving
        try:
            variants = variants_of(backend, config_name)
            new = self._new_instance(backend, config_name)
            self._start_instance(new)
        except InstanceStopped:
            return
        except Exception as exc:  # noqa: BLE001 - the old instance keeps serving
            self._roll_back(config_name, exc)
            return
        with self.lock:
            if self.cancelled.is_set():
                return
            self.serving, self.pending = new, None
            self.endpoint.endpoint_config_name = config_name
            self.endpoint.production_variants = variants
            self.budget = RestartBudget(self.options.restart_limit, self.options.restart_window_s)
            self.set_status("InService")
        new.note(f"traffic switched to {config_name} (pid {new.process.pid if new.process else '?'})")
        log.info("endpoint %s updated to %s at %s", self.name, config_name, new.url)
        if old is not None:
            time.sleep(RETIRE_GRACE_S)
            old.discard()

    def _roll_back(self, config_name: str, exc: Exception) -> None:
        with self.lock:
            failed, self.pending = self.pending, None
        if failed is not None:
            failed.discard()
        current = self.serving.config_name if self.serving else "nothing"
        reason = f"Updating to endpoint configuration {config_name} failed; the endpoint still serves {current}: {exc}"
        log.warning("endpoint %s: %s", self.name, reason)
        with self.lock:
            if not self.cancelled.is_set():
                self.set_status("InService", reason)

    def _fail(self, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, EndpointFailure) else \
            f"Unexpected error while creating the endpoint: {type(exc).__name__}: {exc}"
        log.warning("endpoint %s failed: %s", self.name, reason)
        with self.lock:
            self.set_status("Failed", reason)
        for instance in (self.serving, self.pending):
            if instance is not None:
                instance.stop()


def variants_of(backend: Any, config_name: str) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants for a config: name and instance counts."""
    variants = backend.describe_endpoint_config(config_name)["ProductionVariants"]
    return [{"VariantName": v["VariantName"], "CurrentInstanceCount": v.get("InitialInstanceCount", 1),
             "DesiredInstanceCount": v.get("InitialInstanceCount", 1)} for v in variants]

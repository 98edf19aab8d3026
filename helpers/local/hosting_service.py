"""Local SageMaker hosting: every endpoint is a real model-server process.

moto 5.2.5 records CreateEndpoint and reports the endpoint InService at once, with nothing
behind it. `HostingService.install()` wraps two moto methods (through `moto_patch`, like the
compilation service) so an endpoint behaves like SageMaker's:

- CreateEndpoint: the endpoint starts as Creating; a background thread runs the steps of
  `hosting_steps` (the endpoint config's first production variant -> its model -> the
  container's ModelDataUrl and Environment; download model.tar.gz from local S3 and extract it
  safely) and launches `helpers.local.model_server` on a free port. When /ping answers 200 the endpoint is
  InService; if the process exits, or does not become healthy in time, or any step fails, it
  is Failed with a FailureReason that says what happened and ends with the server's log.
- DeleteEndpoint: the process is stopped before moto forgets the endpoint.

moto's FakeEndpoint stays the resource (DescribeEndpoint serialises it); a `HostedEndpoint` is
its running side and sets what it reports. The gateway (helpers.local.gateway) asks the
`HostingService` where an endpoint listens. Files live in
`<work_dir>/local-aws/endpoints/<endpoint>/`: model.tar.gz, model/ and model-server.log (the
local stand-in for the endpoint's CloudWatch log stream).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen, TimeoutExpired
from typing import Any, NamedTuple

from helpers.local import model_server, moto_patch
from helpers.local.hosting_steps import (
    EndpointFailure,
    fetch_model,
    ping,
    resolve_container,
    with_log,
)
from helpers.local.processes import free_port, stop_process
from helpers.local.run_file import RunInfo
from helpers.local_names import HOST, STANDIN_MODULES_DIR
from helpers.paths import REPO_ROOT
from helpers.polling import wait_until
from helpers.sagemaker_facts import MAX_FAILURE_REASON_CHARS

# Everything of moto's this service relies on; tests/test_moto_contract.py checks each entry.
MOTO_INTERNALS = {
    # wrapped: moto validates and records the endpoint, then we start (or first stop) its server
    "moto.sagemaker.models.SageMakerModelBackend.create_endpoint": ("endpoint_name", "endpoint_config_name", "tags"),
    "moto.sagemaker.models.SageMakerModelBackend.delete_endpoint": ("endpoint_name",),
    # read: the endpoint table (name -> FakeEndpoint) and the lookups config -> variants -> model
    # (hosting_steps.resolve_container)
    "moto.sagemaker.models.SageMakerModelBackend": ("endpoints", "describe_endpoint_config", "describe_model"),
    # read: the containers as CreateModel received them (dicts with ModelDataUrl, Environment)
    "moto.sagemaker.models.Model": ("primary_container", "containers"),
    # read and overwritten; DescribeEndpoint serialises them (FailureReason only when not None)
    "moto.sagemaker.models.FakeEndpoint": (
        "endpoint_name", "endpoint_config_name", "arn", "endpoint_status", "failure_reason",
        "last_modified_time"),
    "moto.sagemaker.exceptions": ("ValidationError",),
    "moto.core.utils": ("utcnow",),
}

PATCH_NAME = "hosting"
STARTUP_TIMEOUT_S = 120.0
DIAGNOSE_WAIT_S = 0.5  # for a server that just died to become reapable
PING_INTERVAL_S = 0.2

log = logging.getLogger(__name__)


class Route(NamedTuple):
    """Where the gateway sends an endpoint's invocations."""

    url: str
    variant_name: str


@dataclass
class HostedEndpoint:
    """One endpoint's process and progress. `lock` orders launch against stop."""

    name: str
    endpoint: Any  # moto's FakeEndpoint: its status is what DescribeEndpoint shows
    directory: Path
    variant_name: str = ""
    port: int = 0
    process: Popen[bytes] | None = None
    status: str = "Creating"
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "model-server.log"

    def set_status(self, status: str, reason: str | None = None) -> None:
        """Change what DescribeEndpoint reports (moto's FakeEndpoint serialises these)."""
        from moto.core.utils import utcnow

        self.status = status
        self.endpoint.endpoint_status = status
        self.endpoint.failure_reason = reason[:MAX_FAILURE_REASON_CHARS] if reason else None
        self.endpoint.last_modified_time = utcnow()

    def diagnose(self) -> str:
        """Why the model server may not answer (alive or exit code, and its log), for errors."""
        if self.process is None:
            return f"endpoint {self.name} has no model server process."
        try:  # a killed server resets its connections a moment before it can be reaped
            code = self.process.wait(timeout=DIAGNOSE_WAIT_S)
        except TimeoutExpired:
            code = None
        state = "is running" if code is None else f"exited with code {code}"
        return f"its model server (pid {self.process.pid}) {state}; see {self.log_path}."


class HostingService:
    """The endpoints moto records, each run by a model server; thread-safe, shared with the gateway."""

    def __init__(self, server: RunInfo, *, startup_timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        self.server = server
        self.startup_timeout_s = startup_timeout_s
        self._endpoints: dict[str, HostedEndpoint] = {}
        self._lock = threading.Lock()
        self._s3: Any = None

    @property
    def region(self) -> str:
        return self.server.region

    @property
    def account_id(self) -> str:
        return self.server.account_id

    # ----------------------------------------------------------------- moto patch
    def install(self) -> HostingService:
        """Patch moto so its endpoints run here (call before moto serves requests).

        Installing again replaces the previous service's patch; stop that service's servers first.
        """
        moto_patch.install(PATCH_NAME, self._patch)
        return self

    def uninstall(self) -> None:
        """Stop every server and restore moto (tests that patch moto in-process clean up with this)."""
        self.stop_all()
        moto_patch.uninstall(PATCH_NAME)

    def _patch(self, patch: moto_patch.MotoPatch) -> None:
        from moto.sagemaker.models import SageMakerModelBackend

        patch.wrap(SageMakerModelBackend, "create_endpoint", self._create_endpoint)
        patch.wrap(SageMakerModelBackend, "delete_endpoint", self._delete_endpoint)

    def _create_endpoint(self, original: Any, backend: Any, endpoint_name: str, **kwargs: Any) -> Any:
        """CreateEndpoint: refuse an existing name (as SageMaker does), then start Creating."""
        if endpoint_name in backend.endpoints:
            from moto.sagemaker.exceptions import ValidationError

            arn = backend.endpoints[endpoint_name].arn
            raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
        endpoint = original(backend, endpoint_name=endpoint_name, **kwargs)
        self.start(backend, endpoint)
        return endpoint

    def _delete_endpoint(self, original: Any, backend: Any, endpoint_name: str) -> None:
        """DeleteEndpoint: stop the model server first, so the name can be reused at once."""
        if endpoint_name in backend.endpoints:
            self.stop(endpoint_name)
        original(backend, endpoint_name=endpoint_name)

    # ----------------------------------------------------------------- queries
    def lookup(self, name: str) -> Route | None:
        """(url, variant) of an InService endpoint; None when unknown, creating or failed."""
        hosted = self._endpoints.get(name)
        if hosted is None or hosted.status != "InService":
            return None
        return Route(hosted.url, hosted.variant_name)

    def running(self) -> list[str]:
        """Names of endpoints whose model-server process is alive (tests and diagnostics)."""
        with self._lock:
            hosted = list(self._endpoints.values())
        return sorted(h.name for h in hosted if h.process is not None and h.process.poll() is None)

    def log_path(self, name: str) -> Path | None:
        hosted = self._endpoints.get(name)
        return hosted.log_path if hosted else None

    def diagnose(self, name: str) -> str:
        """Why an endpoint's server may not answer, for the gateway's errors."""
        hosted = self._endpoints.get(name)
        return hosted.diagnose() if hosted else f"endpoint {name} has no model server process."

    # ----------------------------------------------------------------- lifecycle
    def start(self, backend: Any, endpoint: Any) -> HostedEndpoint:
        """Register `endpoint` as Creating and bring it up in a background thread."""
        directory = self.server.state_dir / "endpoints" / endpoint.endpoint_name
        hosted = HostedEndpoint(name=endpoint.endpoint_name, endpoint=endpoint, directory=directory)
        hosted.set_status("Creating")
        with self._lock:
            self._endpoints[hosted.name] = hosted
        hosted.thread = threading.Thread(
            target=self._create, args=(backend, hosted), daemon=True, name=f"endpoint-{hosted.name}"
        )
        hosted.thread.start()
        return hosted

    def stop(self, name: str) -> None:
        """Stop an endpoint's server (also while it is still Creating) and forget it."""
        with self._lock:
            hosted = self._endpoints.pop(name, None)
        if hosted is not None:
            self._stop(hosted)

    def stop_all(self) -> None:
        """Stop every model server: the backend is shutting down.

        All are sent SIGTERM first, then waited for, so shutdown takes one wait, not one each.
        """
        with self._lock:
            hosted = list(self._endpoints.values())
            self._endpoints.clear()
        for item in hosted:
            with item.lock:
                item.cancelled = True
                if item.process is not None and item.process.poll() is None:
                    item.process.terminate()
        for item in hosted:
            self._stop(item)

    def _stop(self, hosted: HostedEndpoint) -> None:
        with hosted.lock:
            hosted.cancelled = True
            process = hosted.process
        if process is not None:
            stop_process(process)
        if hosted.thread is not None and hosted.thread is not threading.current_thread():
            hosted.thread.join(timeout=10)

    # ----------------------------------------------------------------- creation thread
    def _create(self, backend: Any, hosted: HostedEndpoint) -> None:
        try:
            self._bring_up(backend, hosted)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a FailureReason
            if not hosted.cancelled:
                log.warning("endpoint %s failed: %s", hosted.name, exc)
                self._fail(hosted, str(exc) if isinstance(exc, EndpointFailure) else
                           f"Unexpected error while creating the endpoint: {type(exc).__name__}: {exc}")

    def _bring_up(self, backend: Any, hosted: HostedEndpoint) -> None:
        variant, container = resolve_container(backend, hosted.endpoint.endpoint_config_name)
        hosted.variant_name = variant
        model_dir = fetch_model(self._s3_client(), container, hosted.directory)
        with hosted.lock:
            if hosted.cancelled:
                return
            hosted.port = free_port()
            hosted.process = model_server.launch(
                model_dir, hosted.port, hosted.log_path, self._container_environment(container)
            )
        log.info("endpoint %s: model server pid %d on port %d", hosted.name, hosted.process.pid, hosted.port)
        self._wait_healthy(hosted)

    def _container_environment(self, container: dict[str, Any]) -> dict[str, str]:
        """The model's Environment; on the aws-fidelity stand-in, Neo's images also get `neopytorch`.

        Real Neo's PyTorch inference images (sagemaker-inference-pytorch, sagemaker-neo-pytorch) ship
        Neo's runtime module `neopytorch`, which entry scripts configure before loading a compiled
        model. The stand-in's version (tests/standin/neopytorch.py) only records that it was called.
        """
        environment = dict(container.get("Environment") or {})
        image = container.get("Image", "")
        if self.server.aws_fidelity and ("sagemaker-inference-pytorch" in image or "sagemaker-neo-pytorch" in image):
            standin = str(REPO_ROOT / STANDIN_MODULES_DIR)
            environment["PYTHONPATH"] = os.pathsep.join(filter(None, [standin, environment.get("PYTHONPATH")]))
        return environment

    def _s3_client(self) -> Any:
        with self._lock:  # boto3 client creation is not thread-safe; clients are
            if self._s3 is None:
                self._s3 = self.server.boto3_client("s3")
            return self._s3

    def _wait_healthy(self, hosted: HostedEndpoint) -> None:
        """Poll GET /ping until 200 (InService), process exit or timeout (Failed)."""
        process = hosted.process
        assert process is not None

        def healthy_or_cancelled() -> bool:
            if hosted.cancelled:
                return True
            code = process.poll()
            if code is not None:
                raise EndpointFailure(with_log(
                    f"The model server exited with code {code} before answering /ping: "
                    "check model_fn in code/inference.py and the model files.", hosted.log_path))
            return ping(hosted.port)

        try:
            wait_until(healthy_or_cancelled, timeout_s=self.startup_timeout_s, interval_s=PING_INTERVAL_S)
        except TimeoutError:
            raise EndpointFailure(with_log(
                f"The model server did not pass the /ping health check within "
                f"{self.startup_timeout_s:.0f} s: the model may be too slow to load on this "
                "machine.", hosted.log_path)) from None
        self._mark_in_service(hosted)

    def _mark_in_service(self, hosted: HostedEndpoint) -> None:
        with hosted.lock:
            if hosted.cancelled:
                return
            hosted.set_status("InService")
        log.info("endpoint %s is InService at %s", hosted.name, hosted.url)

    def _fail(self, hosted: HostedEndpoint, reason: str) -> None:
        with hosted.lock:
            process = hosted.process
            hosted.set_status("Failed", reason)
        if process is not None:
            stop_process(process)

"""Local SageMaker hosting: every endpoint is a real model-server process.

moto 5.2.5 records CreateEndpoint and reports the endpoint InService at once, with nothing
behind it. `install(ctx)` patches two moto methods so an endpoint behaves like SageMaker's:

- CreateEndpoint: the endpoint starts as Creating; a background thread reads the endpoint
  config's first production variant -> its model -> the container's ModelDataUrl and
  Environment, downloads model.tar.gz from (local) S3, extracts it safely and launches
  `helpers.local.model_server` on a free port. When /ping answers 200 the endpoint is
  InService; if the process exits, or does not become healthy in time, or any step fails, it
  is Failed with a FailureReason that says what happened and ends with the server's log.
- DeleteEndpoint: the process is stopped before moto forgets the endpoint.

The gateway (helpers.local.gateway) asks the `EndpointRegistry` where an endpoint listens.
Files live in `<work_dir>/local-aws/endpoints/<endpoint>/`: model.tar.gz, model/ and
model-server.log (the local stand-in for the endpoint's CloudWatch log stream).
"""

from __future__ import annotations

import http.client
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen, TimeoutExpired
from typing import Any, NamedTuple, Protocol

from helpers.aws import split_s3_uri
from helpers.local import model_server
from helpers.local.context import free_port, tail
from helpers.packaging import safe_extract

# Everything of moto's this module relies on; tests/test_moto_contract.py checks each entry.
MOTO_INTERNALS = {
    # wrapped: moto validates and records the endpoint, then we start (or first stop) its server
    "moto.sagemaker.models.SageMakerModelBackend.create_endpoint": ("endpoint_name", "endpoint_config_name", "tags"),
    "moto.sagemaker.models.SageMakerModelBackend.delete_endpoint": ("endpoint_name",),
    # read: the endpoint table (name -> FakeEndpoint) and the lookups config -> variants -> model
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

ENDPOINTS_DIR = Path("local-aws") / "endpoints"
STARTUP_TIMEOUT_S = 120.0
PING_INTERVAL_S = 0.2
DIAGNOSE_WAIT_S = 0.5  # for a server that just died to become reapable
LOG_LINES_IN_REASON = 12
MAX_REASON_CHARS = 1024  # SageMaker's FailureReason limit

log = logging.getLogger(__name__)


class Context(Protocol):
    """What hosting needs from helpers.local.context.LocalContext."""

    work_dir: Path
    endpoint_url: str
    region: str
    account_id: str

    def boto3_client(self, service: str) -> Any: ...


class Route(NamedTuple):
    """Where the gateway sends an endpoint's invocations."""

    url: str
    variant_name: str


class EndpointFailure(RuntimeError):
    """A step of endpoint creation failed; the message becomes the FailureReason."""


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
        return f"http://{model_server.HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "model-server.log"


class EndpointRegistry:
    """Thread-safe map endpoint name -> running model server, shared with the gateway."""

    def __init__(self, ctx: Context, *, startup_timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        self.ctx = ctx
        self.startup_timeout_s = startup_timeout_s
        self._endpoints: dict[str, HostedEndpoint] = {}
        self._lock = threading.Lock()
        self._s3: Any = None

    @property
    def region(self) -> str:
        return self.ctx.region

    @property
    def account_id(self) -> str:
        return self.ctx.account_id

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
        """Why an endpoint's server may not answer (alive or exit code, and its log), for errors."""
        hosted = self._endpoints.get(name)
        if hosted is None or hosted.process is None:
            return f"endpoint {name} has no model server process."
        try:  # a killed server resets its connections a moment before it can be reaped
            code = hosted.process.wait(timeout=DIAGNOSE_WAIT_S)
        except TimeoutExpired:
            code = None
        state = "is running" if code is None else f"exited with code {code}"
        return f"its model server (pid {hosted.process.pid}) {state}; see {hosted.log_path}."

    # ----------------------------------------------------------------- lifecycle
    def start(self, backend: Any, endpoint: Any) -> HostedEndpoint:
        """Register `endpoint` as Creating and bring it up in a background thread."""
        directory = self.ctx.work_dir / ENDPOINTS_DIR / endpoint.endpoint_name
        hosted = HostedEndpoint(name=endpoint.endpoint_name, endpoint=endpoint, directory=directory)
        set_status(endpoint, "Creating")
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
            model_server.stop(process)
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
        model_dir = self._fetch_model(container, hosted.directory)
        with hosted.lock:
            if hosted.cancelled:
                return
            hosted.port = free_port()
            hosted.process = model_server.launch(
                model_dir, hosted.port, hosted.log_path, container.get("Environment") or {}
            )
        log.info("endpoint %s: model server pid %d on port %d", hosted.name, hosted.process.pid, hosted.port)
        self._wait_healthy(hosted)

    def _fetch_model(self, container: dict[str, Any], directory: Path) -> Path:
        """Download and safely extract the container's ModelDataUrl into `directory/model`."""
        url = container.get("ModelDataUrl")
        if not url:
            raise EndpointFailure(
                "The model's container has no ModelDataUrl: create the model with "
                "PrimaryContainer={'Image': ..., 'ModelDataUrl': 's3://bucket/model.tar.gz'}."
            )
        if directory.exists():
            shutil.rmtree(directory)  # a re-created endpoint starts clean
        directory.mkdir(parents=True)
        archive = directory / "model.tar.gz"
        download(self._s3_client(), url, archive)
        try:
            return safe_extract(archive, directory / "model")
        except Exception as exc:  # noqa: BLE001 - tarfile raises many types
            raise EndpointFailure(
                f"Could not extract the model data {url}: {exc}. Package the model with "
                "helpers.packaging.build_model_archive (a gzipped tar, no links, no '..')."
            ) from exc

    def _s3_client(self) -> Any:
        with self._lock:  # boto3 client creation is not thread-safe; clients are
            if self._s3 is None:
                self._s3 = self.ctx.boto3_client("s3")
            return self._s3

    def _wait_healthy(self, hosted: HostedEndpoint) -> None:
        """Poll GET /ping until 200 (InService), process exit or timeout (Failed)."""
        assert hosted.process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while not hosted.cancelled:
            code = hosted.process.poll()
            if code is not None:
                raise EndpointFailure(with_log(
                    f"The model server exited with code {code} before answering /ping: "
                    "check model_fn in code/inference.py and the model files.", hosted.log_path))
            if ping(hosted.port):
                self._mark_in_service(hosted)
                return
            if time.monotonic() > deadline:
                raise EndpointFailure(with_log(
                    f"The model server did not pass the /ping health check within "
                    f"{self.startup_timeout_s:.0f} s: the model may be too slow to load on this "
                    "machine.", hosted.log_path))
            time.sleep(PING_INTERVAL_S)

    def _mark_in_service(self, hosted: HostedEndpoint) -> None:
        with hosted.lock:
            if hosted.cancelled:
                return
            hosted.status = "InService"
            set_status(hosted.endpoint, "InService")
        log.info("endpoint %s is InService at %s", hosted.name, hosted.url)

    def _fail(self, hosted: HostedEndpoint, reason: str) -> None:
        with hosted.lock:
            process = hosted.process
            hosted.status = "Failed"
            set_status(hosted.endpoint, "Failed", reason[:MAX_REASON_CHARS])
        if process is not None:
            model_server.stop(process)


# --------------------------------------------------------------------------- helpers
def set_status(endpoint: Any, status: str, reason: str | None = None) -> None:
    """Update what DescribeEndpoint reports."""
    from moto.core.utils import utcnow

    endpoint.endpoint_status = status
    endpoint.failure_reason = reason
    endpoint.last_modified_time = utcnow()


def resolve_container(backend: Any, endpoint_config_name: str) -> tuple[str, dict[str, Any]]:
    """Endpoint config -> first production variant -> model -> its (primary) container."""
    try:
        variants = backend.describe_endpoint_config(endpoint_config_name)["ProductionVariants"]
    except Exception as exc:  # noqa: BLE001 - moto's ValidationError
        raise EndpointFailure(f"The endpoint configuration {endpoint_config_name} no longer exists: {exc}") from exc
    if not variants:
        raise EndpointFailure(f"The endpoint configuration {endpoint_config_name} has no production variant.")
    variant = variants[0]
    try:
        model = backend.describe_model(variant["ModelName"])
    except Exception as exc:  # noqa: BLE001 - moto's ValidationError
        raise EndpointFailure(
            f"Model {variant['ModelName']} of variant {variant['VariantName']} does not exist: "
            "create it with create_model before creating the endpoint."
        ) from exc
    container = model.primary_container or (model.containers[0] if model.containers else {})
    return variant["VariantName"], container


def download(s3: Any, url: str, destination: Path) -> None:
    """Fetch s3://bucket/key to `destination`, explaining a missing bucket or key."""
    try:
        bucket, key = split_s3_uri(url)
    except ValueError:
        bucket = key = ""
    if not bucket or not key.strip("/"):
        raise EndpointFailure(f"ModelDataUrl {url!r} is not an s3://bucket/key URL.")
    try:
        s3.download_file(bucket, key, str(destination))
    except Exception as exc:  # noqa: BLE001 - botocore ClientError and friends
        raise EndpointFailure(
            f"Could not download the model data {url}: {exc}. Upload model.tar.gz to that "
            "S3 location (or fix ModelDataUrl), then delete and re-create the endpoint."
        ) from exc


def ping(port: int) -> bool:
    """True when the model server answers GET /ping with 200."""
    connection = http.client.HTTPConnection(model_server.HOST, port, timeout=2)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def with_log(sentence: str, path: Path) -> str:
    """`sentence` plus as many whole last lines of the log as fit in a FailureReason.

    The end of the log holds the exception that killed the server, so lines are kept from the
    bottom up; the path says where the rest is.
    """
    header = f"{sentence} Last lines of {path}:"
    budget = MAX_REASON_CHARS - len(header) - 1
    kept: list[str] = []
    for line in reversed(tail(path, LOG_LINES_IN_REASON).splitlines()):
        if len(line) + 1 > budget:
            break
        kept.insert(0, line)
        budget -= len(line) + 1
    if not kept:
        return f"{sentence} (See {path}.)"
    return "\n".join([header, *kept])


# --------------------------------------------------------------------------- moto patches
_registry: EndpointRegistry | None = None


def install(ctx: Context) -> EndpointRegistry:
    """Patch moto's SageMaker backend so endpoints run model servers; return their registry.

    Call before moto serves requests. Patching is idempotent; each call makes a new registry
    (stopping the previous one's servers), so in-process tests can install repeatedly.
    """
    from moto.sagemaker.models import SageMakerModelBackend

    global _registry
    if _registry is not None:
        _registry.stop_all()
    _registry = EndpointRegistry(ctx)
    if getattr(SageMakerModelBackend, "_local_hosting_installed", False):
        return _registry
    original_create = SageMakerModelBackend.create_endpoint
    original_delete = SageMakerModelBackend.delete_endpoint

    def create_endpoint(self: Any, endpoint_name: str, **kwargs: Any) -> Any:
        """CreateEndpoint: refuse an existing name (as SageMaker does), then start Creating."""
        if endpoint_name in self.endpoints:
            from moto.sagemaker.exceptions import ValidationError

            arn = self.endpoints[endpoint_name].arn
            raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
        endpoint = original_create(self, endpoint_name=endpoint_name, **kwargs)
        _active_registry().start(self, endpoint)
        return endpoint

    def delete_endpoint(self: Any, endpoint_name: str) -> None:
        """DeleteEndpoint: stop the model server first, so the name can be reused at once."""
        if endpoint_name in self.endpoints:
            _active_registry().stop(endpoint_name)
        original_delete(self, endpoint_name=endpoint_name)

    create_endpoint.__wrapped__ = original_create  # type: ignore[attr-defined]
    delete_endpoint.__wrapped__ = original_delete  # type: ignore[attr-defined]
    SageMakerModelBackend.create_endpoint = create_endpoint
    SageMakerModelBackend.delete_endpoint = delete_endpoint
    SageMakerModelBackend._local_hosting_installed = True
    return _registry


def uninstall() -> None:
    """Stop every server and restore moto's methods (for tests that patch moto in-process)."""
    from moto.sagemaker.models import SageMakerModelBackend

    global _registry
    if _registry is not None:
        _registry.stop_all()
        _registry = None
    if getattr(SageMakerModelBackend, "_local_hosting_installed", False):
        SageMakerModelBackend.create_endpoint = SageMakerModelBackend.create_endpoint.__wrapped__
        SageMakerModelBackend.delete_endpoint = SageMakerModelBackend.delete_endpoint.__wrapped__
        del SageMakerModelBackend._local_hosting_installed


def _active_registry() -> EndpointRegistry:
    if _registry is None:
        raise RuntimeError("helpers.local.hosting.install(ctx) has not been called in this process.")
    return _registry

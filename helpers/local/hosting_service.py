"""Local SageMaker hosting: moto records the resources, every endpoint runs real model servers.

moto 5.2.5 records CreateEndpoint and reports the endpoint InService at once, with nothing
behind it; it has no UpdateEndpoint (a 500 HTML page); it overwrites a model or endpoint config
created twice and takes any name. `HostingService.install()` patches moto (through `moto_patch`,
like the compilation service) so hosting behaves like SageMaker's:

- CreateModel / CreateEndpointConfig / CreateEndpoint: names checked against SageMaker's patterns,
  existing names refused (`resource_names`), then moto records the resource;
- CreateEndpoint: the endpoint starts Creating and a `hosted_endpoint.HostedEndpoint` brings it up
  (and later keeps it healthy) in its own thread;
- UpdateEndpoint (added): Updating, a new model server from the new endpoint config, traffic
  switched when it is healthy, the old one stopped; InService again;
- DeleteEndpoint: refused while the endpoint is Creating or Updating, as SageMaker refuses it;
  otherwise the model servers are stopped and their model data deleted before moto forgets
  the endpoint, so the name can be reused at once and nothing is left on disk but the log.

Every endpoint's files live in `<work_dir>/local-aws/endpoints/<endpoint>/`, a path built with
`helpers.paths.inside`, so no name can reach outside it. The gateway (helpers.local.gateway) asks
the `HostingService` where an endpoint's invocations go (`lookup`).
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any

from helpers.local import moto_patch, resource_names
from helpers.local.hosted_endpoint import LOG_NAME, HostedEndpoint, HostingOptions, Route
from helpers.local.run_file import RunInfo
from helpers.local_names import STANDIN_MODULES_DIR
from helpers.paths import REPO_ROOT, inside
from helpers.sagemaker_facts import ENDPOINT_IN_PROGRESS_STATUSES, in_progress_endpoint_message

# Everything of moto's this service relies on; tests/test_moto_contract.py checks each entry.
MOTO_INTERNALS = {
    # wrapped: names checked first (resource_names), then moto records the resource
    "moto.sagemaker.models.SageMakerModelBackend.create_model": (
        "model_name", "execution_role_arn", "primary_container", "vpc_config", "containers", "tags"),
    "moto.sagemaker.models.SageMakerModelBackend.create_endpoint_config": (
        "endpoint_config_name", "production_variants", "data_capture_config", "async_inference_config", "tags",
        "kms_key_id"),
    # wrapped: moto validates and records the endpoint, then we start (or first stop) its server
    "moto.sagemaker.models.SageMakerModelBackend.create_endpoint": ("endpoint_name", "endpoint_config_name", "tags"),
    "moto.sagemaker.models.SageMakerModelBackend.delete_endpoint": ("endpoint_name",),
    # read: the endpoint table (name -> FakeEndpoint) and the lookups config -> variants -> model
    # (hosting_steps.resolve_container)
    "moto.sagemaker.models.SageMakerModelBackend": (
        "endpoints", "endpoint_configs", "describe_endpoint_config", "describe_model"),
    # read: the containers as CreateModel received them (dicts with ModelDataUrl, Environment)
    "moto.sagemaker.models.Model": ("primary_container", "containers"),
    # read and overwritten; DescribeEndpoint serialises them (FailureReason only when not None)
    "moto.sagemaker.models.FakeEndpoint": (
        "endpoint_name", "endpoint_config_name", "arn", "endpoint_status", "failure_reason",
        "last_modified_time", "production_variants"),
    # added method `update_endpoint`, dispatched like compilation_service's stop_compilation_job
    "moto.sagemaker.responses.SageMakerResponse": ("sagemaker_backend", "_get_param"),
    "moto.core.responses": ("ActionResult",),
    "moto.sagemaker.exceptions": ("ValidationError",),
    "moto.core.utils": ("utcnow",),
}

PATCH_NAME = "hosting"
STARTUP_TIMEOUT_S = 120.0
ENDPOINTS_DIR = "endpoints"

log = logging.getLogger(__name__)

__all__ = ["HostedEndpoint", "HostingOptions", "HostingService", "Route"]


class HostingService:
    """The endpoints moto records, each run by a model server; thread-safe, shared with the gateway."""

    def __init__(self, server: RunInfo, *, startup_timeout_s: float = STARTUP_TIMEOUT_S,
                 restart_limit: int = 3, restart_window_s: float = 300.0) -> None:
        self.server = server
        # The aws-fidelity stand-in gives model servers of Neo's images its stand-in `neopytorch`.
        standin = str(REPO_ROOT / STANDIN_MODULES_DIR) if server.aws_fidelity else None
        self.options = HostingOptions(startup_timeout_s, restart_limit, restart_window_s, standin_modules=standin)
        self._endpoints: dict[str, HostedEndpoint] = {}
        self._lock = threading.Lock()
        self._s3: Any = None

    @property
    def region(self) -> str:
        return self.server.region

    @property
    def account_id(self) -> str:
        return self.server.account_id

    @property
    def endpoints_dir(self) -> Path:
        return self.server.state_dir / ENDPOINTS_DIR

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
        from moto.sagemaker.responses import SageMakerResponse

        patch.wrap(SageMakerModelBackend, "create_model", self._create_model)
        patch.wrap(SageMakerModelBackend, "create_endpoint_config", self._create_endpoint_config)
        patch.wrap(SageMakerModelBackend, "create_endpoint", self._create_endpoint)
        patch.wrap(SageMakerModelBackend, "delete_endpoint", self._delete_endpoint)
        service = self

        def update_endpoint(backend: Any, endpoint_name: str, endpoint_config_name: str, **_: Any) -> str:
            """SageMakerModelBackend.update_endpoint (moto has none)."""
            return service._update_endpoint(backend, endpoint_name, endpoint_config_name)

        patch.add(SageMakerModelBackend, "update_endpoint", update_endpoint)
        patch.add(SageMakerResponse, "update_endpoint", _update_endpoint_action)

    @staticmethod
    def _create_model(original: Any, backend: Any, model_name: str, **kwargs: Any) -> Any:
        resource_names.check_new_model(backend, model_name)
        return original(backend, model_name=model_name, **kwargs)

    @staticmethod
    def _create_endpoint_config(original: Any, backend: Any, endpoint_config_name: str, **kwargs: Any) -> Any:
        resource_names.check_new_endpoint_config(backend, endpoint_config_name, kwargs.get("production_variants"))
        return original(backend, endpoint_config_name=endpoint_config_name, **kwargs)

    def _create_endpoint(self, original: Any, backend: Any, endpoint_name: str, **kwargs: Any) -> Any:
        """CreateEndpoint: valid, new names (as SageMaker checks), then Creating."""
        resource_names.check_new_endpoint(backend, endpoint_name, kwargs.get("endpoint_config_name") or "")
        endpoint = original(backend, endpoint_name=endpoint_name, **kwargs)
        self.start(backend, endpoint)
        return endpoint

    def _delete_endpoint(self, original: Any, backend: Any, endpoint_name: str) -> None:
        """DeleteEndpoint: refused while the endpoint is in progress, as SageMaker refuses it
        (`sagemaker_facts.in_progress_endpoint_message`); otherwise stop the model servers first,
        so the name can be reused at once."""
        from moto.sagemaker.exceptions import ValidationError

        hosted = self._endpoints.get(endpoint_name)
        if hosted is not None and hosted.status in ENDPOINT_IN_PROGRESS_STATUSES:
            raise ValidationError(message=in_progress_endpoint_message(hosted.endpoint.arn))
        if endpoint_name in backend.endpoints:
            self.stop(endpoint_name)
        original(backend, endpoint_name=endpoint_name)

    def _update_endpoint(self, backend: Any, endpoint_name: str, endpoint_config_name: str) -> str:
        """UpdateEndpoint: refuse what SageMaker refuses, then Updating; returns the endpoint ARN.

        Refusals, all ValidationException: an unknown endpoint ("Could not find endpoint"), an
        unknown config ("Could not find endpoint configuration"), an endpoint still Creating or
        Updating ("Cannot update in-progress endpoint"; message prefixes from
        aws/amazon-sagemaker-operator-for-k8s controllers/sdkutil/clientwrapper/sagemaker_client.go),
        a Failed one (DescribeEndpoint's EndpointStatus documentation: "DeleteEndpoint is the only
        operation that can be performed on a failed endpoint").
        """
        from moto.sagemaker.exceptions import ValidationError

        resource_names.check_names({"endpointName": endpoint_name, "endpointConfigName": endpoint_config_name})
        endpoint = backend.endpoints.get(endpoint_name)
        hosted = self._endpoints.get(endpoint_name)
        if endpoint is None or hosted is None:
            raise ValidationError(message=f"Could not find endpoint \"{endpoint_name}\".")
        backend.describe_endpoint_config(endpoint_config_name)  # moto: "Could not find endpoint configuration"
        if hosted.status == "Failed":
            raise ValidationError(message=f'Cannot update failed endpoint "{endpoint.arn}": DeleteEndpoint is the '
                                          "only operation that can be performed on a failed endpoint.")
        if hosted.status != "InService":
            raise ValidationError(message=in_progress_endpoint_message(endpoint.arn))
        hosted.request_update(endpoint_config_name)
        log.info("endpoint %s: updating to %s", endpoint_name, endpoint_config_name)
        return str(endpoint.arn)

    # ----------------------------------------------------------------- queries
    def lookup(self, name: str) -> Route | None:
        """Where an endpoint's invocations go; None when unknown, Creating or Failed."""
        hosted = self._endpoints.get(name)
        return hosted.route() if hosted is not None else None

    def variant_of(self, name: str) -> str:
        """The variant an endpoint serves (its log stream's name starts with it); AllTraffic when unknown."""
        route = self.lookup(name)
        return route.variant_name if route is not None else "AllTraffic"

    def running(self) -> list[str]:
        """Names of endpoints with a live model-server process (tests and diagnostics)."""
        with self._lock:
            hosted = list(self._endpoints.values())
        return sorted(h.name for h in hosted if any(p.poll() is None for p in h.processes()))

    def log_path(self, name: str) -> Path | None:
        hosted = self._endpoints.get(name)
        return hosted.log_path if hosted else None

    def being_replaced(self, name: str) -> bool:
        """True when the endpoint's model server died (it is or will be restarted): the gateway
        then answers 503, which clients retry, instead of a ModelError."""
        hosted = self._endpoints.get(name)
        return hosted is not None and hosted.being_replaced()

    def diagnose(self, name: str) -> str:
        """Why an endpoint's server may not answer, for the gateway's errors."""
        hosted = self._endpoints.get(name)
        return hosted.diagnose() if hosted else f"endpoint {name} has no model server process."

    # ----------------------------------------------------------------- lifecycle
    def start(self, backend: Any, endpoint: Any) -> HostedEndpoint:
        """Register `endpoint` as Creating and bring it up in a background thread."""
        hosted = HostedEndpoint(name=endpoint.endpoint_name, endpoint=endpoint,
                                directory=inside(self.endpoints_dir, endpoint.endpoint_name),
                                s3=self._s3_client, options=self.options)
        with self._lock:
            self._endpoints[hosted.name] = hosted
        hosted.start(backend)
        return hosted

    def stop(self, name: str) -> None:
        """Stop an endpoint's servers (also while it is still Creating), delete its model data, forget it."""
        with self._lock:
            hosted = self._endpoints.pop(name, None)
        if hosted is not None:
            hosted.stop()

    def stop_all(self, remove_files: bool = True) -> None:
        """Stop every model server: the backend is shutting down.

        All are sent SIGTERM first, then waited for, so shutdown takes one wait, not one each.
        With `remove_files` their model data is deleted too (not by an orphaned backend, whose
        work directory may belong to another one by now).
        """
        with self._lock:
            hosted = list(self._endpoints.values())
            self._endpoints.clear()
        for item in hosted:
            item.terminate()
        for item in hosted:
            item.stop(remove_files=remove_files)

    def clear_leftovers(self) -> None:
        """Delete model data no running endpoint owns (a backend killed before it could clean up).

        Nothing there is usable after a restart (S3 and SageMaker state lived in memory); the
        model-server logs stay, a few KB each.
        """
        if not self.endpoints_dir.is_dir():
            return
        with self._lock:
            owned = set(self._endpoints)
        for directory in self.endpoints_dir.iterdir():
            if directory.name in owned or not directory.is_dir():
                continue
            for child in directory.iterdir():
                if child.name != LOG_NAME:
                    _remove(child)

    def _s3_client(self) -> Any:
        with self._lock:  # boto3 client creation is not thread-safe; clients are
            if self._s3 is None:
                self._s3 = self.server.boto3_client("s3")
            return self._s3


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _update_endpoint_action(response: Any) -> Any:
    """SageMakerResponse.update_endpoint: the UpdateEndpoint action (moto dispatches by name)."""
    from moto.core.responses import ActionResult

    arn = response.sagemaker_backend.update_endpoint(
        endpoint_name=response._get_param("EndpointName"),
        endpoint_config_name=response._get_param("EndpointConfigName"))
    return ActionResult({"EndpointArn": arn})

"""The local Neo: CreateCompilationJob on the local backend really compiles.

moto 5.2.5 stores a compilation job as COMPLETED at once and compiles nothing. The
`CompilationService` wraps moto's `create_compilation_job` so a job behaves like one on
SageMaker Neo: INPROGRESS while a worker thread runs the steps of `compilation_steps`
(validate the request, download and safely extract model.tar.gz from local S3, check the
TorchScript model, compile it with `helpers.compiler`, upload `<input stem>-<target>.tar.gz`, Neo's
name, next to S3OutputLocation); then COMPLETED, or FAILED with a Neo-style FailureReason naming what to
fix. StopCompilationJob, which moto lacks, is added; each step boundary honours it.

moto's CompilationJob stays the resource: it describes itself (DescribeCompilationJob,
ListCompilationJobs) from the attributes a `CompilationRun` sets on it. Like hosting, this
service patches moto through `moto_patch`; what it relies on is MOTO_INTERNALS, checked by
tests/test_moto_contract.py. Scratch files go to `<work_dir>/local-aws/compilation/<JobName>/`
(a path built with `helpers.paths.inside`) and are deleted when the job ends: its artifact is in S3,
and nothing there is usable after a restart.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from helpers.compiler import CompilationError, compile_torchscript
from helpers.local import moto_patch
from helpers.local.compilation_steps import (
    artifact_name,
    check_model,
    fetch_archive,
    find_model_file,
    package,
    package_neo_pytorch,
    upload,
    validate_request,
)
from helpers.local.neo_targets import request_problem
from helpers.local.run_file import RunInfo
from helpers.local_names import STATE_DIR_NAME
from helpers.paths import inside
from helpers.sagemaker_facts import (
    COMPILATION_TERMINAL_STATUSES,
    DEFAULT_PYTORCH_VERSION,
    ENTITY_NAME,
)

MOTO_INTERNALS = {
    # wrapped: called with these keyword arguments, returns the job ARN
    "moto.sagemaker.models.SageMakerModelBackend.create_compilation_job": (
        "compilation_job_name", "role_arn", "output_config", "stopping_condition",
        "model_package_version_arn", "input_config", "vpc_config", "tags"),
    # read: the backend's job table (name -> CompilationJob) and its region
    "moto.sagemaker.models.SageMakerModelBackend": ("compilation_jobs", "region_name"),
    # read and overwritten on the job object; describe()/summary() serialise them
    "moto.sagemaker.models.CompilationJob": (
        "compilation_job_name", "arn", "compilation_job_status", "compilation_end_time",
        "last_modified_time", "failure_reason", "model_artifacts", "model_digests",
        "inference_image", "input_config", "output_config", "derived_information",
        # wrapped: ListCompilationJobs' summary reads TargetPlatform["Accelerator"] unconditionally
        "summary"),
    # added method `stop_compilation_job`: dispatch is camelcase_to_underscores(action) looked
    # up among the class's functions; the method uses these members
    "moto.sagemaker.responses.SageMakerResponse": ("sagemaker_backend", "_get_param"),
    "moto.core.responses": ("EmptyResult",),
    "moto.core.utils": ("utcnow",),
    "moto.sagemaker.exceptions": ("ResourceNotFound", "ValidationError"),
}
PATCH_NAME = "compilation"
SCRATCH_DIR = "compilation"  # <state_dir>/compilation/<JobName>: one job's files while it runs

# Neo's PyTorch inference images (sagemaker SDK image_uri_config/neo-pytorch.json, a few regions)
NEO_IMAGE_ACCOUNTS = {"us-east-1": "785573368785", "us-east-2": "007439368137",
                      "us-west-1": "710691900526", "us-west-2": "301217895009",
                      "eu-west-1": "802834080501", "eu-central-1": "746233611703"}

log = logging.getLogger(__name__)


class JobStopped(Exception):
    """Raised at a step boundary once StopCompilationJob was called."""


def inference_image(region: str, framework_version: str) -> str:
    """The Neo PyTorch CPU inference image a SageMaker Model would use for this job."""
    account = NEO_IMAGE_ACCOUNTS.get(region, NEO_IMAGE_ACCOUNTS["us-east-1"])
    return f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-inference-pytorch:{framework_version}-cpu-py3"


@dataclass
class CompilationRun:
    """One job being compiled: moto's CompilationJob (what Describe shows) and its worker."""

    name: str
    job: Any  # moto's CompilationJob
    stopping: threading.Event = field(default_factory=threading.Event)
    worker: threading.Thread | None = None

    def begin(self, region: str) -> None:
        """Turn moto's instantly-COMPLETED job into a running one, as Neo reports it."""
        job = self.job
        version = (job.input_config or {}).get("FrameworkVersion") or DEFAULT_PYTORCH_VERSION
        job.compilation_job_status = "INPROGRESS"
        job.compilation_end_time = None  # absent from DescribeCompilationJob until the job ends
        job.model_artifacts, job.model_digests, job.derived_information = {}, {}, {}
        job.failure_reason = None  # absent from DescribeCompilationJob unless the job fails
        # Neo returns an InferenceImage for ml_* targets only: those deploy to SageMaker hosting (AWS docs,
        # "Inference Container Images"; SDK v2 Model.compile reads it for ml_* and warns for the rest).
        device = job.output_config.get("TargetDevice", "")
        job.inference_image = inference_image(region, version) if device.startswith("ml_") else None

    def checkpoint(self) -> None:
        if self.stopping.is_set():
            raise JobStopped

    def finish(self, status: str, **attributes: Any) -> None:
        """Record the one terminal status (a stop that raced the last step wins)."""
        from moto.core.utils import utcnow

        if self.stopping.is_set():
            status, attributes = "STOPPED", {}
        for key, value in attributes.items():
            setattr(self.job, key, value)
        self.job.compilation_end_time = self.job.last_modified_time = utcnow()
        self.job.compilation_job_status = status  # last: a COMPLETED job already shows its artifacts


class CompilationService:
    """Runs the compilation jobs moto records, one worker thread each."""

    def __init__(self, server: RunInfo) -> None:
        self.server = server
        self._lock = threading.Lock()  # orders status changes of request threads and workers
        self._running: dict[str, CompilationRun] = {}  # job ARN -> run

    # ----------------------------------------------------------------- moto patch
    def install(self) -> CompilationService:
        """Patch moto so its compilation jobs run here (call before moto serves requests)."""
        moto_patch.install(PATCH_NAME, self._patch)
        return self

    @staticmethod
    def uninstall() -> None:
        """Restore moto (tests that patch moto in their own process clean up with this)."""
        moto_patch.uninstall(PATCH_NAME)

    def _patch(self, patch: moto_patch.MotoPatch) -> None:
        from moto.sagemaker.models import CompilationJob, SageMakerModelBackend
        from moto.sagemaker.responses import SageMakerResponse

        service = self

        def stop_compilation_job(backend: Any, compilation_job_name: str) -> None:
            """SageMakerModelBackend.stop_compilation_job: INPROGRESS -> STOPPING; the worker ends it."""
            service.stop(backend, compilation_job_name)

        patch.wrap(SageMakerModelBackend, "create_compilation_job", self._create)
        patch.wrap(CompilationJob, "summary", _summary_without_accelerator)
        patch.add(SageMakerModelBackend, "stop_compilation_job", stop_compilation_job)
        patch.add(SageMakerResponse, "stop_compilation_job", _stop_compilation_job_action)

    def _create(self, original: Any, backend: Any, compilation_job_name: str, **kwargs: Any) -> str:
        """CreateCompilationJob: SageMaker's name check (it becomes a directory), moto's record, our worker."""
        from moto.sagemaker.exceptions import ValidationError

        if not ENTITY_NAME.fullmatch(compilation_job_name or ""):
            raise ValidationError(message=f"Value '{compilation_job_name}' at 'compilationJobName' failed to "
                                          f"satisfy constraint: Member must satisfy regular expression pattern: {ENTITY_NAME.pattern}")
        if problem := request_problem(kwargs.get("output_config") or {}):  # an unknown target: no job at all
            raise ValidationError(message=problem)
        arn = original(backend, compilation_job_name=compilation_job_name, **kwargs)  # moto validates
        self.start(backend.compilation_jobs[compilation_job_name], backend.region_name)
        return arn

    # ----------------------------------------------------------------- lifecycle
    def start(self, job: Any, region: str) -> CompilationRun:
        run = CompilationRun(job.compilation_job_name, job)
        run.begin(region)
        run.worker = threading.Thread(target=self._work, args=(run,), name=f"neo-{run.name}", daemon=True)
        with self._lock:
            self._running[job.arn] = run
        run.worker.start()
        return run

    def stop(self, backend: Any, name: str) -> None:
        """StopCompilationJob: refuse unknown or finished jobs as SageMaker does, else mark STOPPING."""
        from moto.core.utils import utcnow
        from moto.sagemaker.exceptions import ResourceNotFound, ValidationError

        job = backend.compilation_jobs.get(name)
        if job is None:
            raise ResourceNotFound(message=f"Could not find compilation job '{name}'.")
        with self._lock:
            if job.compilation_job_status in COMPILATION_TERMINAL_STATUSES:
                raise ValidationError(message=f"Compilation job {name} is already "
                                              f"{job.compilation_job_status}: only running jobs can be stopped.")
            job.compilation_job_status = "STOPPING"
            job.last_modified_time = utcnow()
            if run := self._running.get(job.arn):
                run.stopping.set()

    def stop_all(self, timeout: float = 10) -> None:
        """Server shutdown: ask every running job to stop and wait (bounded) for the workers."""
        with self._lock:
            runs = list(self._running.values())
        for run in runs:
            run.stopping.set()
        deadline = time.monotonic() + timeout
        for run in runs:
            if run.worker is not None:
                run.worker.join(max(0.0, deadline - time.monotonic()))

    def _work(self, run: CompilationRun) -> None:
        """The worker: run the steps, then record exactly one terminal status."""
        try:
            uri, digest = self.compile(run)
            status, attributes = "COMPLETED", {"model_artifacts": {"S3ModelArtifacts": uri},
                                               "model_digests": {"ArtifactDigest": digest}}
        except JobStopped:
            status, attributes = "STOPPED", {}
        except CompilationError as exc:
            status, attributes = "FAILED", {"failure_reason": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the server must survive any job
            log.exception("compilation job %s crashed", run.name)
            status, attributes = "FAILED", {"failure_reason": f"ServerError: the local Neo failed unexpectedly "
                                                              f"({type(exc).__name__}: {exc}); see {STATE_DIR_NAME}/server.log."}
        shutil.rmtree(inside(self.server.state_dir / SCRATCH_DIR, run.name), ignore_errors=True)  # artifact is in S3
        with self._lock:
            run.finish(status, **attributes)
            self._running.pop(run.job.arn, None)
        log.info("compilation job %s: %s", run.name, run.job.failure_reason or run.job.compilation_job_status)

    def compile(self, run: CompilationRun) -> tuple[str, str]:
        """All steps of one job; returns (S3 URI of the artifact, its sha256)."""
        job = run.job
        request = validate_request(job.input_config or {}, job.output_config)
        job.derived_information = {"DerivedDataInputConfig": json.dumps(request["shapes"])}
        job_dir = inside(self.server.state_dir / SCRATCH_DIR, run.name)
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        s3 = self.server.boto3_client("s3")
        run.checkpoint()
        extracted = fetch_archive(s3, job.input_config["S3Uri"], job_dir)
        model_file = find_model_file(extracted)
        check_model(model_file, request["shapes"])
        run.checkpoint()
        artifact = job_dir / artifact_name(job.input_config["S3Uri"], request["target"])
        if self.server.aws_fidelity and "TargetDevice" in job.output_config:
            package_neo_pytorch(model_file, request["shapes"], extracted / "code", artifact)
        else:
            compile_torchscript(model_file, request["shapes"], job_dir / "compiled", target=request["target"],
                                precision=request["precision"], framework_version=request["framework_version"],
                                options_meta=request["options"].meta())
            run.checkpoint()
            package(job_dir / "compiled", extracted / "code", artifact)
        run.checkpoint()
        uri = upload(s3, artifact, job.output_config["S3OutputLocation"])
        return uri, hashlib.sha256(artifact.read_bytes()).hexdigest()


def _summary_without_accelerator(original: Any, job: Any) -> dict[str, Any]:
    """CompilationJob.summary for ListCompilationJobs, also for a TargetPlatform without Accelerator.

    moto 5.2.5 reads `TargetPlatform["Accelerator"]` unconditionally and fails the whole listing
    with a KeyError (HTTP 500) for a CPU platform such as LINUX/X86_64, where botocore's
    TargetPlatform shape makes Accelerator optional (only Os and Arch are required).
    """
    platform = (job.output_config or {}).get("TargetPlatform")
    if not platform or "Accelerator" in platform:
        return original(job)
    view = copy.copy(job)  # the shared job object stays untouched (requests run in threads)
    view.output_config = {**job.output_config, "TargetPlatform": {**platform, "Accelerator": None}}
    summary = original(view)
    summary.pop("CompilationTargetPlatformAccelerator", None)
    return summary


def _stop_compilation_job_action(response: Any) -> Any:
    """SageMakerResponse.stop_compilation_job: the StopCompilationJob action (moto dispatches by name)."""
    from moto.core.responses import EmptyResult

    response.sagemaker_backend.stop_compilation_job(response._get_param("CompilationJobName"))
    return EmptyResult()

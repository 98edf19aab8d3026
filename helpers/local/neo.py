"""The local Neo: CreateCompilationJob on the local backend really compiles.

moto 5.2.5 stores a compilation job as COMPLETED at once and compiles nothing. `install` wraps
moto's `create_compilation_job` so a job behaves like one on SageMaker Neo: INPROGRESS while a
background thread validates the request, downloads model.tar.gz from (local) S3, checks and
compiles the TorchScript model with `helpers.compiler`, and uploads
`<JobName>-<target>.tar.gz` next to S3OutputLocation; then COMPLETED, or FAILED with a
Neo-style FailureReason naming what to fix. StopCompilationJob, which moto lacks, is added.

The phases, each one a place where a stop request is honoured:
    validate request -> download + safe extract -> load + dry-run model -> compile -> package + upload

This is the only module that touches moto internals; the exact list is MOTO_INTERNALS, and
tests/test_moto_contract.py checks it against the installed moto.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tarfile
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

from moto.core.responses import EmptyResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ResourceNotFound, ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from helpers.compiler import CompilationError, compile_torchscript
from helpers.local.context import LocalContext
from helpers.local_names import STATE_DIR_NAME
from helpers.packaging import UnsafeArchiveError, safe_extract
from helpers.sagemaker_facts import (
    COMPILATION_TERMINAL_STATUSES,
    DEFAULT_PYTORCH_VERSION,
    ENTITY_NAME,
    NEO_PYTORCH_VERSIONS,
    split_s3_uri,
)

MOTO_VERSION = "5.2.5"
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
        "inference_image", "input_config", "output_config", "derived_information"),
    # added method `stop_compilation_job`: dispatch is camelcase_to_underscores(action) looked
    # up among the class's functions; the method uses these members
    "moto.sagemaker.responses.SageMakerResponse": ("sagemaker_backend", "_get_param"),
    "moto.core.responses": ("EmptyResult",),
    "moto.core.utils": ("utcnow",),
    "moto.sagemaker.exceptions": ("ResourceNotFound", "ValidationError"),
}

CPU_TARGETS = ("ml_c4", "ml_c5", "ml_c6i", "ml_m4", "ml_m5", "ml_m6i", "ml_r5")
ACCELERATOR_PREFIXES = ("ml_p", "ml_g", "ml_inf", "ml_trn", "ml_eia", "jetson_")
# Neo's PyTorch inference images (sagemaker SDK image_uri_config/neo-pytorch.json, a few regions)
NEO_IMAGE_ACCOUNTS = {"us-east-1": "785573368785", "us-east-2": "007439368137",
                      "us-west-1": "710691900526", "us-west-2": "301217895009",
                      "eu-west-1": "802834080501", "eu-central-1": "746233611703"}

log = logging.getLogger("helpers.local.neo")
_ctx: LocalContext | None = None
_lock = threading.Lock()  # guards status transitions between request threads and job threads
_running: dict[str, tuple[threading.Event, threading.Thread]] = {}  # job ARN -> (stop, worker)


class JobStopped(Exception):
    """Raised at a phase boundary once StopCompilationJob was called."""


def install(ctx: LocalContext) -> None:
    """Patch moto so compilation jobs compile (idempotent; call before moto serves requests)."""
    global _ctx
    _ctx = ctx
    if getattr(SageMakerModelBackend, "_local_neo_installed", False):
        return
    original = SageMakerModelBackend.create_compilation_job

    def create_compilation_job(self: Any, compilation_job_name: str, **kwargs: Any) -> str:
        if not ENTITY_NAME.fullmatch(compilation_job_name or ""):  # it becomes a directory name
            raise ValidationError(message=f"Value '{compilation_job_name}' at 'compilationJobName' failed to "
                                          f"satisfy constraint: Member must satisfy regular expression pattern: {ENTITY_NAME.pattern}")
        arn = original(self, compilation_job_name=compilation_job_name, **kwargs)  # moto validates
        start_job(self.compilation_jobs[compilation_job_name], self.region_name)
        return arn

    create_compilation_job.__wrapped__ = original  # type: ignore[attr-defined]
    SageMakerModelBackend.create_compilation_job = create_compilation_job
    SageMakerModelBackend.stop_compilation_job = _backend_stop
    SageMakerResponse.stop_compilation_job = _response_stop
    SageMakerModelBackend._local_neo_installed = True


def uninstall() -> None:
    """Undo install() (tests that patch moto in their own process clean up with this)."""
    if getattr(SageMakerModelBackend, "_local_neo_installed", False):
        SageMakerModelBackend.create_compilation_job = SageMakerModelBackend.create_compilation_job.__wrapped__
        del SageMakerModelBackend.stop_compilation_job, SageMakerResponse.stop_compilation_job
        del SageMakerModelBackend._local_neo_installed


def _response_stop(self: Any) -> Any:
    """SageMakerResponse.stop_compilation_job: the StopCompilationJob action."""
    self.sagemaker_backend.stop_compilation_job(self._get_param("CompilationJobName"))
    return EmptyResult()


def _backend_stop(self: Any, compilation_job_name: str) -> None:
    """SageMakerModelBackend.stop_compilation_job: INPROGRESS -> STOPPING; the worker ends it."""
    job = self.compilation_jobs.get(compilation_job_name)
    if job is None:
        raise ResourceNotFound(message=f"Could not find compilation job '{compilation_job_name}'.")
    with _lock:
        if job.compilation_job_status in COMPILATION_TERMINAL_STATUSES:
            raise ValidationError(message=f"Compilation job {compilation_job_name} is already "
                                          f"{job.compilation_job_status}: only running jobs can be stopped.")
        job.compilation_job_status = "STOPPING"
        job.last_modified_time = utcnow()
        if entry := _running.get(job.arn):
            entry[0].set()


def start_job(job: Any, region: str) -> None:
    """Turn moto's instantly-COMPLETED job into a running one and start its worker thread."""
    version = (job.input_config or {}).get("FrameworkVersion") or DEFAULT_PYTORCH_VERSION
    job.compilation_job_status = "INPROGRESS"
    job.compilation_end_time = None  # absent from DescribeCompilationJob until the job ends
    job.model_artifacts, job.model_digests, job.derived_information = {}, {}, {}
    job.failure_reason = None  # absent from DescribeCompilationJob unless the job fails
    job.inference_image = inference_image(region, version) if "TargetDevice" in job.output_config else None
    stop = threading.Event()
    worker = threading.Thread(target=_run, args=(job, stop), name=f"neo-{job.compilation_job_name}", daemon=True)
    _running[job.arn] = (stop, worker)
    worker.start()


def inference_image(region: str, framework_version: str) -> str:
    """The Neo PyTorch CPU inference image a SageMaker Model would use for this job."""
    account = NEO_IMAGE_ACCOUNTS.get(region, NEO_IMAGE_ACCOUNTS["us-east-1"])
    return f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-inference-pytorch:{framework_version}-cpu-py3"


def stop_all(timeout: float = 10) -> None:
    """Server shutdown: ask every running job to stop and wait (bounded) for the workers."""
    deadline = time.monotonic() + timeout
    for stop, _ in list(_running.values()):
        stop.set()
    for _, worker in list(_running.values()):
        worker.join(max(0.0, deadline - time.monotonic()))


def _run(job: Any, stop: threading.Event) -> None:
    """The worker: run the phases, then record exactly one terminal status."""
    name = job.compilation_job_name
    try:
        uri, digest = compile_job(job, stop)
        status, updates = "COMPLETED", {"model_artifacts": {"S3ModelArtifacts": uri},
                                        "model_digests": {"ArtifactDigest": digest}}
    except JobStopped:
        status, updates = "STOPPED", {}
    except CompilationError as exc:
        status, updates = "FAILED", {"failure_reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the server must survive any job
        log.exception("compilation job %s crashed", name)
        status, updates = "FAILED", {"failure_reason": f"ServerError: the local Neo failed unexpectedly "
                                                       f"({type(exc).__name__}: {exc}); see {STATE_DIR_NAME}/server.log."}
    with _lock:
        if stop.is_set():  # a stop that raced the last phase wins: discard the result
            status, updates = "STOPPED", {}
        for key, value in updates.items():
            setattr(job, key, value)
        job.compilation_end_time = job.last_modified_time = utcnow()
        job.compilation_job_status = status  # last: a COMPLETED job already shows its artifacts
        _running.pop(job.arn, None)
    log.info("compilation job %s: %s", name, job.failure_reason or status)


def _checkpoint(stop: threading.Event) -> None:
    if stop.is_set():
        raise JobStopped


def compile_job(job: Any, stop: threading.Event) -> tuple[str, str]:
    """All phases of one job; returns (S3 URI of the artifact, its sha256)."""
    assert _ctx is not None, "helpers.local.neo.install(ctx) was not called"
    request = validate_request(job.input_config or {}, job.output_config)
    job.derived_information = {"DerivedDataInputConfig": json.dumps(request["shapes"])}
    job_dir = _ctx.state_dir / "compilation" / job.compilation_job_name
    shutil.rmtree(job_dir, ignore_errors=True)
    job_dir.mkdir(parents=True)
    s3 = _ctx.boto3_client("s3")
    _checkpoint(stop)
    extracted = fetch_archive(s3, job.input_config["S3Uri"], job_dir)
    model_file = find_model_file(extracted)
    check_model(model_file, request["shapes"])
    _checkpoint(stop)
    compile_torchscript(model_file, request["shapes"], job_dir / "compiled", target=request["target"],
                        precision=request["precision"], framework_version=request["framework_version"])
    _checkpoint(stop)
    artifact = package(job_dir / "compiled", extracted / "code",
                       job_dir / f"{job.compilation_job_name}-{request['target']}.tar.gz")
    _checkpoint(stop)
    uri = upload(s3, artifact, job.output_config["S3OutputLocation"])
    return uri, hashlib.sha256(artifact.read_bytes()).hexdigest()


def _input_error(message: str) -> CompilationError:
    return CompilationError(f"ClientError: InputConfiguration: {message}")


def validate_request(input_config: dict, output_config: dict) -> dict[str, Any]:
    """Check what Neo checks before touching the model; return shapes, target, precision, version."""
    if not input_config:
        raise _input_error("the local Neo needs InputConfig (ModelPackageVersionArn is not supported).")
    framework = input_config.get("Framework", "")
    if framework != "PYTORCH":
        raise _input_error(f"Framework '{framework}' is not supported by the local Neo: use PYTORCH.")
    version = input_config.get("FrameworkVersion") or DEFAULT_PYTORCH_VERSION
    if version not in NEO_PYTORCH_VERSIONS:
        raise _input_error(f"FrameworkVersion '{version}' is not supported for PYTORCH: "
                           f"use one of {', '.join(NEO_PYTORCH_VERSIONS)}.")
    return {"shapes": parse_data_input_config(input_config.get("DataInputConfig")),
            "target": target_name(output_config), "framework_version": version,
            "precision": parse_compiler_options(output_config.get("CompilerOptions"))}


def parse_data_input_config(text: str | None) -> dict[str, list[int]]:
    """DataInputConfig as name -> shape: a JSON dict, or a JSON list of shapes (input0, input1...)."""
    example = '{"input0": [1, 3, 224, 224]}'
    try:
        config = json.loads(text or "")
    except ValueError as exc:
        raise _input_error(f"DataInputConfig is not valid JSON ({exc}): write e.g. {example}.") from exc
    if isinstance(config, list) and all(isinstance(s, list) for s in config):
        config = {f"input{i}": shape for i, shape in enumerate(config)}
    if not isinstance(config, dict) or not config:
        raise _input_error(f"DataInputConfig {text} must map input names to shapes, e.g. {example}.")
    for name, shape in config.items():
        if not (isinstance(shape, list) and shape and all(isinstance(d, int) and d > 0 for d in shape)):
            raise _input_error(f"DataInputConfig shape {name}: {shape} must be a list of positive integers.")
    return config


def parse_compiler_options(text: str | None) -> str:
    """The precision asked for in CompilerOptions ({"precision_mode": "fp32" | "bf16"})."""
    if not text:
        return "fp32"
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise CompilationError(f"ClientError: CompilerOptions is not valid JSON ({exc}): "
                               'write e.g. {"precision_mode": "fp32"}.') from exc
    if not isinstance(options, dict):
        raise CompilationError(f"ClientError: CompilerOptions {text} must be a JSON object.")
    return str(options.get("precision_mode", "fp32"))


@cache
def neo_devices() -> tuple[str, ...]:
    """Every TargetDevice real Neo knows, from botocore's API model (loading it takes ~1 s)."""
    import botocore.session

    return tuple(botocore.session.get_session().get_service_model("sagemaker").shape_for("TargetDevice").enum)


def target_name(output_config: dict) -> str:
    """The target this job compiles for (TargetDevice or OS_ARCH), if the local Neo can."""
    cpus = f"{', '.join(CPU_TARGETS)} or TargetPlatform LINUX/X86_64"
    if platform := output_config.get("TargetPlatform"):
        name = "_".join(filter(None, [platform.get("Os"), platform.get("Arch"), platform.get("Accelerator")]))
        if name == "LINUX_X86_64":
            return name
        described = f"TargetPlatform {name}"
    else:
        name = output_config.get("TargetDevice", "")
        if name in CPU_TARGETS:
            return name
        if not name.startswith(ACCELERATOR_PREFIXES) and name not in neo_devices():
            raise CompilationError(f"ClientError: OutputConfiguration: TargetDevice '{name}' is not a "
                                   f"Neo target device: use one of {cpus}.")
        described = f"TargetDevice '{name}'"
    raise CompilationError(f"ClientError: OutputConfiguration: {described} is not available locally: "
                           f"the local Neo compiles for x86-64 CPUs only ({cpus}); "
                           "use the aws backend for GPU and edge targets.")


def fetch_archive(s3: Any, uri: str, job_dir: Path) -> Path:
    """Download model.tar.gz and extract it safely; return the extraction directory."""
    from botocore.exceptions import ClientError

    archive = job_dir / "input.tar.gz"
    try:
        bucket, key = split_s3_uri(uri)
    except ValueError as exc:
        raise _input_error(f"S3Uri {uri!r} is not an s3://bucket/key URI.") from exc
    try:
        s3.download_file(bucket, key, str(archive))
    except ClientError as exc:
        code = exc.response["Error"].get("Code", "")
        problem = "does not exist" if code in ("404", "NoSuchKey", "NoSuchBucket") else f"could not be read ({code})"
        raise _input_error(f"S3Uri {uri} {problem}: upload model.tar.gz there first.") from exc
    try:
        return safe_extract(archive, job_dir / "input")
    except UnsafeArchiveError as exc:
        raise _input_error(f"unsafe model archive {uri}: {exc}") from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _input_error(f"{uri} is not a valid tar.gz archive ({type(exc).__name__}): "
                           "package the model with tar -czf model.tar.gz model.pth code/.") from exc


def find_model_file(extracted: Path) -> Path:
    """model.pth, else the one *.pth / *.pt file at the archive root."""
    if (extracted / "model.pth").is_file():
        return extracted / "model.pth"
    candidates = sorted(p for p in extracted.iterdir() if p.is_file() and p.suffix in (".pth", ".pt"))
    if len(candidates) == 1:
        return candidates[0]
    found = sorted(str(p.relative_to(extracted)) for p in extracted.rglob("*") if p.is_file())
    problem = "Several model files" if candidates else "No TorchScript model file"
    raise _input_error(f"{problem} found in the archive (found: {', '.join(found) or 'nothing'}): "
                       "put exactly one TorchScript file, model.pth, at the archive root.")


def check_model(model_file: Path, shapes: dict[str, list[int]]) -> None:
    """Load the TorchScript model and run it once on zeros of the DataInputConfig shapes."""
    import torch

    try:
        module = torch.jit.load(str(model_file), map_location="cpu").eval()
    except Exception as exc:  # noqa: BLE001 - torch raises several types for a non-TorchScript file
        raise _input_error(f"{model_file.name} is not a TorchScript model (a plain state dict?): save "
                           f"torch.jit.trace(model, example) with .save('{model_file.name}') and package that.") from exc
    expected = len(module.forward.schema.arguments) - 1  # minus self
    if expected != len(shapes):
        raise _input_error(f"DataInputConfig gives {len(shapes)} input(s) ({', '.join(shapes)}) but the "
                           f"model's forward takes {expected}: give one shape per input, in order.")
    try:
        with torch.inference_mode():
            module(*(torch.zeros(shape) for shape in shapes.values()))
    except Exception as exc:  # noqa: BLE001 - any failure means the shapes do not fit the model
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise _input_error(f"the model does not run on the DataInputConfig shapes {json.dumps(shapes)}: "
                           f"{lines[-1] if lines else type(exc).__name__}. Vision models take NCHW, "
                           'e.g. {"input0": [1, 3, 224, 224]}.') from exc


def package(compiled_dir: Path, code_dir: Path, artifact: Path) -> Path:
    """The compiled model.tar.gz: compiled.* at the root, the input's code/ carried over."""
    with tarfile.open(artifact, "w:gz") as tar:
        for file in sorted(compiled_dir.iterdir()):
            tar.add(file, arcname=file.name)
        if code_dir.is_dir():
            tar.add(code_dir, arcname="code")
    return artifact


def upload(s3: Any, artifact: Path, output_location: str) -> str:
    """Put the artifact under S3OutputLocation; return its S3 URI."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError

    try:
        bucket, prefix = split_s3_uri(output_location.rstrip("/"))
    except ValueError as exc:
        raise CompilationError(f"ClientError: OutputConfiguration: S3OutputLocation {output_location!r} "
                               "is not an s3://bucket/prefix URI.") from exc
    key = f"{prefix}/{artifact.name}" if prefix else artifact.name
    try:
        s3.upload_file(str(artifact), bucket, key)
    except (ClientError, S3UploadFailedError) as exc:
        raise CompilationError(f"ClientError: OutputConfiguration: could not write s3://{bucket}/{key} "
                               f"({exc}): check that the bucket in S3OutputLocation exists.") from exc
    return f"s3://{bucket}/{key}"

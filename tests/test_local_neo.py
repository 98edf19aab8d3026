"""The local Neo through the real API: boto3 -> local backend -> CreateCompilationJob.

Every bad request must end FAILED with a FailureReason that names the problem, and leave the
server running; the happy path must produce the artifact hosting expects. Most failure cases
use a tiny traced model (they fail before compiling); the EfficientNet archive is compiled once.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from helpers.local import control
from helpers.local_names import DUMMY_CREDENTIALS, STATE_DIR_NAME
from helpers.packaging import add_code_dir, list_archive
from helpers.polling import wait_until
from helpers.sagemaker_facts import COMPILATION_TERMINAL_STATUSES

pytestmark = pytest.mark.slow

ROLE = "arn:aws:iam::123456789012:role/neo-tests"
SHAPE = '{"input0": [1, 3, 224, 224]}'


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def clients(local_backend):
    """(sagemaker, s3) clients for the session's backend, built explicitly (no env vars)."""
    import boto3

    session = boto3.session.Session(region_name=local_backend.region, **DUMMY_CREDENTIALS)
    return (session.client("sagemaker", endpoint_url=local_backend.endpoint_url),
            session.client("s3", endpoint_url=local_backend.endpoint_url))


@pytest.fixture(scope="module")
def bucket(clients) -> str:
    name = f"neo-tests-{uuid.uuid4().hex[:8]}"
    clients[1].create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def tiny_model_bytes(tmp_path_factory) -> bytes:
    """A traced 3-channel conv net: loads and compiles in well under a second."""
    import torch

    from helpers.tracing import trace_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    path = tmp_path_factory.mktemp("tiny") / "model.pth"
    trace_model(model, torch.zeros(1, 3, 32, 32), path)
    return path.read_bytes()


def make_archive(files: dict[str, bytes], *, code: bool = True, extra: list[tarfile.TarInfo] = ()) -> bytes:
    """A model.tar.gz in memory: `files` at their names, code/ as packaging writes it, raw `extra` members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for member in extra:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
        if code:
            add_code_dir(tar, b"{}")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny_uri(clients, bucket, tiny_model_bytes) -> str:
    return put(clients[1], bucket, make_archive({"model.pth": tiny_model_bytes}))


@pytest.fixture(scope="module")
def model_uri(clients, bucket, model_archive) -> str:
    return put(clients[1], bucket, model_archive.read_bytes())


# ----------------------------------------------------------------------------- helpers
def put(s3, bucket: str, data: bytes) -> str:
    key = f"models/{uuid.uuid4().hex[:8]}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def submit(sm, bucket: str, uri: str, *, shapes: str | None = SHAPE, framework: str = "PYTORCH",
           version: str = "2.0", target: dict | None = None, options: str | None = None) -> str:
    name = f"neo-test-{uuid.uuid4().hex[:10]}"
    input_config = {"S3Uri": uri, "Framework": framework, "FrameworkVersion": version}
    if shapes is not None:
        input_config["DataInputConfig"] = shapes
    output_config = {"S3OutputLocation": f"s3://{bucket}/compiled", **(target or {"TargetDevice": "ml_c5"})}
    if options is not None:
        output_config["CompilerOptions"] = options
    sm.create_compilation_job(CompilationJobName=name, RoleArn=ROLE, InputConfig=input_config,
                              OutputConfig=output_config, StoppingCondition={"MaxRuntimeInSeconds": 900})
    return name


def wait_for(sm, name: str, timeout: float = 180) -> dict:
    """Poll DescribeCompilationJob until a terminal status (bounded; no timing assertions)."""
    def finished() -> dict | None:
        job = sm.describe_compilation_job(CompilationJobName=name)
        return job if job["CompilationJobStatus"] in COMPILATION_TERMINAL_STATUSES else None

    return wait_until(finished, timeout_s=timeout, interval_s=0.25)


def assert_failed(job: dict, *fragments: str, backend: control.RunInfo) -> None:
    reason = job.get("FailureReason", "")
    assert job["CompilationJobStatus"] == "FAILED", job
    for fragment in fragments:
        assert fragment in reason, f"{fragment!r} not in FailureReason {reason!r}"
    assert "ModelArtifacts" not in job or not job["ModelArtifacts"].get("S3ModelArtifacts")
    assert control.status(Path(backend.work_dir)) is not None, "the backend died with the job"


# ----------------------------------------------------------------------------- happy paths
def test_compiles_for_ml_c5(clients, bucket, model_uri, local_backend, tmp_path) -> None:
    sm, s3 = clients
    name = submit(sm, bucket, model_uri)
    assert sm.describe_compilation_job(CompilationJobName=name)["CompilationJobStatus"] == "INPROGRESS"
    job = wait_for(sm, name)
    assert job["CompilationJobStatus"] == "COMPLETED", job.get("FailureReason")
    uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    stem = model_uri.rsplit("/", 1)[-1].removesuffix(".tar.gz")
    assert uri == f"s3://{bucket}/compiled/{stem}-ml_c5.tar.gz", "named like real Neo: <input stem>-<target>"
    assert job["InferenceImage"].endswith("sagemaker-inference-pytorch:2.0-cpu-py3")
    assert "CompilationEndTime" in job and "FailureReason" not in job

    artifact = tmp_path / "compiled.tar.gz"
    s3.download_file(bucket, uri.split("/", 3)[3], str(artifact))
    names = {n for n, _ in list_archive(artifact)}
    assert {"compiled.xml", "compiled.bin", "compiled.meta", "code/inference.py", "code/model-config.json"} <= names
    assert "model.pth" not in names
    with tarfile.open(artifact) as tar:
        meta = json.load(tar.extractfile("compiled.meta"))
    assert meta["target"] == "ml_c5" and meta["precision"] == "fp32" and meta["compiler"] == "openvino"
    assert meta["inputs"] == [{"name": "input0", "shape": [1, 3, 224, 224], "dtype": "float32"}]
    assert meta["outputs"][0]["shape"] == [1, 1000]
    assert meta["compiler_version"] and meta["compile_time_s"] > 0

    listed = sm.list_compilation_jobs(NameContains=name)["CompilationJobSummaries"]
    assert [j["CompilationJobStatus"] for j in listed] == ["COMPLETED"]


def test_target_platform_linux_x86_64_and_list_shapes(clients, bucket, tiny_uri) -> None:
    """TargetPlatform jobs are named OS_ARCH and have no inference image; a bare list of shapes works."""
    sm, _ = clients
    name = submit(sm, bucket, tiny_uri, shapes="[[1, 3, 32, 32]]", target={"TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}})
    job = wait_for(sm, name)
    assert job["CompilationJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["ModelArtifacts"]["S3ModelArtifacts"].endswith("/model-LINUX_X86_64.tar.gz")  # Neo's naming
    assert "InferenceImage" not in job
    listed = sm.list_compilation_jobs(NameContains=name)["CompilationJobSummaries"]  # moto 5.2.5 crashed here
    assert [(j["CompilationTargetPlatformOs"], j["CompilationTargetPlatformArch"]) for j in listed] == [("LINUX", "X86_64")]
    assert "CompilationTargetPlatformAccelerator" not in listed[0]


# ----------------------------------------------------------------------------- request errors
@pytest.mark.parametrize(("overrides", "fragments"), [
    ({"framework": "TENSORFLOW"}, ["Framework 'TENSORFLOW'", "use PYTORCH"]),
    ({"version": "2.5"}, ["FrameworkVersion '2.5'", "2.0"]),
    ({"target": {"TargetDevice": "ml_g4dn"}}, ["ml_g4dn", "cannot be compiled by the local Neo", "TensorRT", "aws backend"]),
    ({"target": {"TargetDevice": "jetson_nano"}}, ["jetson_nano", "cannot be compiled by the local Neo"]),
    ({"target": {"TargetPlatform": {"Os": "LINUX", "Arch": "X86_64", "Accelerator": "NVIDIA"}}},
     ["LINUX/X86_64/NVIDIA", "no NVIDIA GPU"]),
    ({"target": {"TargetPlatform": {"Os": "LINUX", "Arch": "ARM64"}}}, ["LINUX/ARM64", "ARM code cannot run"]),
    ({"options": '{"mpcu": "skylake-avx512"}'}, ["unknown option 'mpcu'"]),
    ({"shapes": '{input0: [1, 3, 32, 32]'}, ["DataInputConfig is not valid JSON"]),
    ({"shapes": None}, ["DataInputConfig"]),
    ({"shapes": '{"input0": [1, 3, -32, 32]}'}, ["DataInputConfig shape input0"]),
    ({"options": "precision_mode=fp32"}, ["CompilerOptions is not valid JSON"]),
    ({"options": '{"precision_mode": "fp16"}'}, ["precision_mode 'fp16'"]),
    ({"shapes": '{"a": [1, 3, 32, 32], "b": [1, 3, 32, 32]}'}, ["2 input(s) (a, b)", "forward takes 1"]),
])
def test_bad_request_fails_naming_the_problem(clients, bucket, tiny_uri, local_backend, overrides, fragments) -> None:
    sm, _ = clients
    overrides.setdefault("shapes", '{"input0": [1, 3, 32, 32]}')
    assert_failed(wait_for(sm, submit(sm, bucket, tiny_uri, **overrides)), *fragments, backend=local_backend)


@pytest.mark.parametrize("target", [{"TargetDevice": "ml_banana"}, {"TargetDevice": "ml_c6i"},
                                    {"TargetPlatform": {"Os": "LINUX", "Arch": "RISCV64"}}])
def test_an_unknown_target_is_refused_at_submission(clients, bucket, tiny_uri, target) -> None:
    """botocore checks enums only server-side: SageMaker answers a ValidationException, and no job exists."""
    sm, _ = clients
    name = f"neo-test-{uuid.uuid4().hex[:10]}"
    with pytest.raises(sm.exceptions.ClientError, match="failed to satisfy constraint: Member must satisfy enum value set") as refused:
        sm.create_compilation_job(CompilationJobName=name, RoleArn=ROLE,
                                  InputConfig={"S3Uri": tiny_uri, "Framework": "PYTORCH", "DataInputConfig": SHAPE},
                                  OutputConfig={"S3OutputLocation": f"s3://{bucket}/compiled", **target},
                                  StoppingCondition={"MaxRuntimeInSeconds": 900})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(sm.exceptions.ClientError, match="Could not find"):
        sm.describe_compilation_job(CompilationJobName=name)


def test_compiler_options_are_recorded_in_compiled_meta(clients, bucket, tiny_uri, tmp_path) -> None:
    """mcpu (a Neo option) and precision_mode (local-only) land in compiled.meta, labelled."""
    from helpers.machine import llvm_cpu_name

    sm, s3 = clients
    mcpu = llvm_cpu_name()
    name = submit(sm, bucket, tiny_uri, shapes='{"input0": [1, 3, 32, 32]}', target={"TargetDevice": "ml_m5"},
                  options=json.dumps({"mcpu": mcpu, "precision_mode": "fp32"}))
    job = wait_for(sm, name)
    assert job["CompilationJobStatus"] == "COMPLETED", job.get("FailureReason")
    artifact = tmp_path / "compiled.tar.gz"
    s3.download_file(bucket, job["ModelArtifacts"]["S3ModelArtifacts"].split("/", 3)[3], str(artifact))
    with tarfile.open(artifact) as tar:
        meta = json.load(tar.extractfile("compiled.meta"))
    assert meta["target"] == "ml_m5" and meta["compiler_options"] == {"mcpu": mcpu}
    assert meta["target_cpu"]["mcpu"] == mcpu and meta["target_cpu"]["from"] == "mcpu", "mcpu names the target's CPU"
    assert meta["local_only_options"] == {"precision_mode": "fp32"}
    notes = " ".join(meta["compiler_option_notes"])
    assert f"this CPU runs code built for {mcpu}" in notes and "local-only" in notes


def test_nhwc_shape_fails_naming_the_shape(clients, bucket, model_uri, local_backend) -> None:
    sm, _ = clients
    job = wait_for(sm, submit(sm, bucket, model_uri, shapes='{"input0": [1, 224, 224, 3]}'))
    assert_failed(job, "[1, 224, 224, 3]", "NCHW", backend=local_backend)


def test_missing_s3_object_fails(clients, bucket, local_backend) -> None:
    sm, _ = clients
    job = wait_for(sm, submit(sm, bucket, f"s3://{bucket}/nothing/here.tar.gz"))
    assert_failed(job, f"S3Uri s3://{bucket}/nothing/here.tar.gz does not exist", backend=local_backend)


# ----------------------------------------------------------------------------- archive errors
def test_archive_without_model_file(clients, bucket, local_backend) -> None:
    sm, s3 = clients
    job = wait_for(sm, submit(sm, bucket, put(s3, bucket, make_archive({"README.txt": b"hi"}))))
    assert_failed(job, "No TorchScript model file found", "README.txt", "code/inference.py", backend=local_backend)


def test_plain_state_dict(clients, bucket, local_backend) -> None:
    import torch

    sm, s3 = clients
    buffer = io.BytesIO()
    torch.save(torch.nn.Linear(2, 2).state_dict(), buffer)
    job = wait_for(sm, submit(sm, bucket, put(s3, bucket, make_archive({"model.pth": buffer.getvalue()}))))
    assert_failed(job, "model.pth is not a TorchScript model", "torch.jit.trace", backend=local_backend)


def test_not_a_tarball(clients, bucket, local_backend) -> None:
    sm, s3 = clients
    job = wait_for(sm, submit(sm, bucket, put(s3, bucket, b"this is not gzip")))
    assert_failed(job, "not a valid tar.gz", backend=local_backend)


def _member(name: str, *, symlink_to: str | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    if symlink_to:
        info.type, info.linkname = tarfile.SYMTYPE, symlink_to
    else:
        info.size = 5
    return info


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_unsafe_archive_member_is_refused(clients, bucket, local_backend, tiny_model_bytes, kind) -> None:
    sm, s3 = clients
    marker = f"neo-escape-{uuid.uuid4().hex[:8]}"
    member = {"dotdot": _member(f"../../{marker}"),
              "absolute": _member(f"/tmp/{marker}"),
              "symlink": _member(marker, symlink_to="/etc/passwd")}[kind]
    archive = make_archive({"model.pth": tiny_model_bytes}, extra=[member])
    job = wait_for(sm, submit(sm, bucket, put(s3, bucket, archive), shapes='{"input0": [1, 3, 32, 32]}'))
    assert_failed(job, "unsafe model archive", f"Refusing archive member {member.name!r}", backend=local_backend)
    work = Path(local_backend.work_dir)
    assert not Path(f"/tmp/{marker}").exists()
    assert not list(work.parent.rglob(f"*{marker}*")), "an unsafe member was written"


# ----------------------------------------------------------------------------- stopping
def test_stop_mid_compile(clients, bucket, model_uri, local_backend) -> None:
    sm, s3 = clients
    name = submit(sm, bucket, model_uri)
    extracted = Path(local_backend.work_dir) / STATE_DIR_NAME / "compilation" / name / "input" / "model.pth"
    deadline = time.monotonic() + 60
    while not extracted.exists() and time.monotonic() < deadline:  # past download: loading/compiling
        time.sleep(0.05)
    sm.stop_compilation_job(CompilationJobName=name)
    assert sm.describe_compilation_job(CompilationJobName=name)["CompilationJobStatus"] in ("STOPPING", "STOPPED")
    job = wait_for(sm, name)
    assert job["CompilationJobStatus"] == "STOPPED"
    assert not job.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"compiled/{name}").get("KeyCount")
    assert listed == 0, "a stopped job uploaded its artifact"
    with pytest.raises(sm.exceptions.ClientError, match="already STOPPED"):
        sm.stop_compilation_job(CompilationJobName=name)
    assert control.status(Path(local_backend.work_dir)) is not None


def test_job_name_must_be_a_sagemaker_entity_name(clients, bucket, tiny_uri) -> None:
    """Job names become directory names: SageMaker's pattern is enforced synchronously, like AWS."""
    sm, _ = clients
    with pytest.raises(sm.exceptions.ClientError, match="compilationJobName"):
        sm.create_compilation_job(CompilationJobName="../../escape", RoleArn=ROLE,
                                  InputConfig={"S3Uri": tiny_uri, "Framework": "PYTORCH", "DataInputConfig": SHAPE},
                                  OutputConfig={"S3OutputLocation": f"s3://{bucket}/compiled", "TargetDevice": "ml_c5"},
                                  StoppingCondition={"MaxRuntimeInSeconds": 900})


def test_stop_unknown_job(clients) -> None:
    sm, _ = clients
    with pytest.raises(sm.exceptions.ResourceNotFound, match="no-such-job"):
        sm.stop_compilation_job(CompilationJobName="no-such-job")

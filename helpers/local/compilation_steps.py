"""The local Neo's steps, each a plain function that fails with Neo's wording.

`compilation_service` runs them in order for every job; each raises `CompilationError` whose
message becomes the job's FailureReason, worded like real Neo's ("ClientError: InputConfiguration:
..."), naming what is wrong and what to do:

    validate_request  InputConfig, OutputConfig (target: `neo_targets`), CompilerOptions
                      (`compiler_options`), before touching the model
    fetch_archive     download model.tar.gz from S3, extract it safely
    find_model_file   the one TorchScript file at the archive root
    check_model       load it, run it once on DataInputConfig's shapes
    package, upload   the compiled `<input stem>-<target>.tar.gz` (Neo's name) next to S3OutputLocation
    package_neo_pytorch   the aws-fidelity stand-in's ml_* artifact, in real Neo's PyTorch layout

The compiling itself is `helpers.compiler.compile_torchscript`.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from helpers.compiler import CompilationError
from helpers.local.compiler_options import parse_compiler_options
from helpers.local.neo_targets import require_local_target
from helpers.packaging import UnsafeArchiveError, safe_extract
from helpers.sagemaker_facts import DEFAULT_PYTORCH_VERSION, NEO_PYTORCH_VERSIONS, split_s3_uri


def _input_error(message: str) -> CompilationError:
    return CompilationError(f"ClientError: InputConfiguration: {message}")


def validate_request(input_config: dict, output_config: dict) -> dict[str, Any]:
    """Check what Neo checks before touching the model; return shapes, target, version, options.

    "options" is a `compiler_options.LocalOptions` (its `meta()` goes into compiled.meta);
    "precision" is its precision_mode (local-only), fp32 unless asked.
    """
    if not input_config:
        raise _input_error("the local Neo needs InputConfig (ModelPackageVersionArn is not supported).")
    framework = input_config.get("Framework", "")
    if framework != "PYTORCH":
        raise _input_error(f"Framework '{framework}' is not supported by the local Neo: use PYTORCH.")
    version = input_config.get("FrameworkVersion") or DEFAULT_PYTORCH_VERSION
    if version not in NEO_PYTORCH_VERSIONS:
        raise _input_error(f"FrameworkVersion '{version}' is not supported for PYTORCH: "
                           f"use one of {', '.join(NEO_PYTORCH_VERSIONS)}.")
    shapes = parse_data_input_config(input_config.get("DataInputConfig"))
    target = require_local_target(output_config).name
    options = parse_compiler_options(output_config.get("CompilerOptions"))
    return {"shapes": shapes, "target": target, "framework_version": version,
            "precision": options.precision, "options": options}


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


def artifact_name(input_uri: str, target: str) -> str:
    """What Neo calls its output: `<input archive stem>-<target>.tar.gz` (model.tar.gz -> model-ml_c5.tar.gz).

    Not documented by AWS, but every listing of real Neo output agrees (`model-ml_c5.tar.gz`,
    `resnet_v1.5_50-ml_c4.tar.gz`, `...-LINUX_X86_64.tar.gz`, `resnet18_model-LINUX_ARM64_NVIDIA.tar.gz`:
    /work/notes/aws-facts.md B1). Clients must read DescribeCompilationJob's S3ModelArtifacts anyway.
    """
    name = input_uri.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if name.endswith(suffix):
            name = name.removesuffix(suffix)
            break
    return f"{name or 'model'}-{target}.tar.gz"


def package_neo_pytorch(model_file: Path, shapes: dict[str, list[int]], code_dir: Path, artifact: Path,
                        *, keep_code: bool = False) -> Path:
    """The stand-in's artifact for an ml_* target, in real Neo's PyTorch layout.

    Real Neo returns a TorchScript file with its compiled operators inside, loaded after
    `neopytorch.config(...)` in its inference image, and `sample_input.pkl` that entry scripts
    warm up with (aws/sagemaker-python-sdk tests/data/pytorch_neo/code/inference.py; its file has
    been `compiled.pt`, then `model.pth` since SDK PR #3198). The stand-in cannot produce Neo's
    operators: it keeps the layout and the contract (the same TorchScript under Neo's name), which
    is what a client meets. Whether Neo carries `code/` over is undocumented: `keep_code` chooses,
    and the notebooks handle both.
    """
    import pickle

    import torch

    staging = artifact.parent / "neo-layout"
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "model.pth").write_bytes(model_file.read_bytes())
    example = [torch.zeros(shape) for shape in shapes.values()]
    (staging / "sample_input.pkl").write_bytes(pickle.dumps(example[0] if len(example) == 1 else tuple(example)))
    return package(staging, code_dir if keep_code else staging / "no-code", artifact)


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

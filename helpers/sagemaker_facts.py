"""What real SageMaker and Neo define, spelled once for both sides.

The notebooks' helpers check requests against these facts before AWS would refuse them, and the
local backend enforces the same facts so a request that works locally works on AWS. This module
is a leaf: it imports nothing from `helpers`, so the client side (`aws`, `neo`, `endpoints`) and
the local emulator (`helpers.local`) can both depend on it without depending on each other.
"""

from __future__ import annotations

import re
from functools import cache

# Neo's PyTorch FrameworkVersion values for cloud instances ("Supported Instance Types and
# Frameworks": https://docs.aws.amazon.com/sagemaker/latest/dg/neo-supported-cloud.html).
NEO_PYTORCH_VERSIONS = ("1.4", "1.5", "1.6", "1.7", "1.8", "1.12", "1.13", "2.0")
DEFAULT_PYTORCH_VERSION = "2.0"

# botocore's sagemaker service model, shape CompilationJobStatus: INPROGRESS | COMPLETED | FAILED |
# STARTING | STOPPING | STOPPED. These three never change again.
COMPILATION_TERMINAL_STATUSES = ("COMPLETED", "FAILED", "STOPPED")

# Names, from botocore's sagemaker service model (botocore 1.44.8, data/sagemaker/2017-07-24/
# service-2.json; /work/notes/aws-facts.md F3). No dots, no underscores, no slashes: a name is safe
# to use as a directory name once it matches.
# - shape EntityName (CompilationJobName): 1-63 characters, [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62};
# - shapes EndpointName, EndpointConfigName (and VariantName): max 63, the same pattern;
# - shape ModelName: max 63, [a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?.
# The pattern alone does not bound the length ("-*" repeats freely), so MAX_NAME_CHARS is checked too.
ENTITY_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ENDPOINT_NAME = ENDPOINT_CONFIG_NAME = ENTITY_NAME
MODEL_NAME = re.compile(r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$")
MAX_NAME_CHARS = 63

# botocore's sagemaker-runtime service model, InvokeEndpoint's Body: max 6291456 bytes (6 MiB). Real-time
# endpoints refuse a bigger body before any container sees it: HTTP 413 "HTTP content length exceeded
# N bytes." with no error code, so botocore raises a plain ClientError whose code is "413"
# (aws/sagemaker-python-sdk#171 and aws/amazon-sagemaker-examples#245, when the limit was 5 MB).
MAX_INVOCATION_BODY_BYTES = 6291456

# botocore's sagemaker service model, shape FailureReason: max 1024 characters.
MAX_FAILURE_REASON_CHARS = 1024

# Endpoint statuses in which SageMaker refuses DeleteEndpoint and UpdateEndpoint with
# ValidationException 'Cannot update in-progress endpoint "<arn>".' (message and code:
# aws/amazon-sagemaker-operator-for-k8s, controllers/sdkutil/clientwrapper/sagemaker_client.go,
# DeleteEndpointInProgressMessagePrefix; the statuses: botocore's EndpointStatus enum).
ENDPOINT_IN_PROGRESS_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack")


def in_progress_endpoint_message(arn: str) -> str:
    """SageMaker's refusal of a change to an endpoint that is still in progress."""
    return f'Cannot update in-progress endpoint "{arn}".'


# ------------------------------------------------------------------ Neo targets and CompilerOptions
# The valid targets are the enums of botocore's installed sagemaker service model (shapes
# TargetDevice, TargetPlatformOs/Arch/Accelerator), read at run time, never copied: a botocore
# upgrade brings AWS's new targets with it. botocore does not check enums itself (its
# validate.py checks required members, types and minimum lengths only): the service does, and
# answers CreateCompilationJob with a ValidationException.
TARGET_PLATFORM_ENUMS = {"Os": "TargetPlatformOs", "Arch": "TargetPlatformArch",
                         "Accelerator": "TargetPlatformAccelerator"}


@cache
def sagemaker_enum(shape: str) -> tuple[str, ...]:
    """The values of an enum shape (e.g. "TargetDevice") in botocore's installed sagemaker model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for(shape).enum)


def neo_target_devices() -> tuple[str, ...]:
    """Every TargetDevice real Neo accepts (botocore's enum: ml_c5, rasp4b, jetson_nano, ...)."""
    return sagemaker_enum("TargetDevice")


# Neo's documented CompilerOptions keys -> (the targets each is for, what it sets). Sources:
# botocore's sagemaker model, OutputConfig.CompilerOptions documentation; JETPACK_VERSION from
# the edge devices table, https://docs.aws.amazon.com/sagemaker/latest/dg/neo-supported-devices-edge-devices.html
NEO_COMPILER_OPTIONS = {
    "dtype": ("PyTorch on ml_* targets", "the input data type: float32 (or float), int64 (or long)"),
    "DTYPE": ("PyTorch on ml_* targets", "the input data type: float32 (or float), int64 (or long)"),
    "mcpu": ("CPU targets", "the CPU micro-architecture, e.g. skylake-avx512"),
    "mattr": ("CPU targets", "CPU features, e.g. ['+neon', '+vfpv4']"),
    "gpu-code": ("NVIDIA targets", "the GPU architecture, e.g. sm_72"),
    "gpu_code": ("NVIDIA targets", "the GPU architecture, e.g. sm_72"),
    "trt-ver": ("NVIDIA targets", "the TensorRT version, x.y.z"),
    "cuda-ver": ("NVIDIA targets", "the CUDA version, x.y"),
    "JETPACK_VERSION": ("NVIDIA Jetson targets", "the JetPack version, for TensorFlow 2"),
    "ANDROID_PLATFORM": ("ANDROID targets", "the Android API level, 21 to 29"),
    "class_labels": ("the coreml target", "the labels file inside the model archive"),
    "signature_def_key": ("TensorFlow on ml_eia2", "the signature to compile"),
    "output_names": ("TensorFlow on ml_eia2", "the output tensor names"),
}
# Keys only the local Neo understands. `precision_mode` appears nowhere in Neo's CompilerOptions
# documentation, so it is never sent to real Neo (helpers.preflight.check_compiler_options).
LOCAL_ONLY_COMPILER_OPTIONS = {
    "precision_mode": "the local Neo's inference precision, fp32 (default) or bf16 where the CPU has it",
}


# The SageMaker Python SDK's configuration file (v2 `src/sagemaker/config/config.py`, sagemaker-core
# `sagemaker/core/config/config.py`): the file this variable names replaces the user's
# ~/.config/sagemaker/config.yaml. Its key SageMaker.PythonSDK.Modules.Session.DefaultS3Bucket
# (config_schema.SESSION_DEFAULT_S3_BUCKET_PATH) is read by both SDKs' `Session` as its default
# bucket, so `default_bucket()` then asks STS nothing.
SDK_USER_CONFIG_ENV = "SAGEMAKER_USER_CONFIG_OVERRIDE"


def sdk_default_bucket(region: str, account_id: str) -> str:
    """The bucket `Session.default_bucket()` creates when none is configured (SDK v2
    `session.generate_default_sagemaker_bucket_name`: "sagemaker-{region}-{account}")."""
    return f"sagemaker-{region}-{account_id}"


def name_violations(value: str, member: str, pattern: re.Pattern[str] = ENTITY_NAME) -> list[str]:
    """What is wrong with a resource name, one sentence per broken constraint, worded like AWS's.

    AWS validates every request member against its shape and lists each failure as
    "Value 'x' at 'member' failed to satisfy constraint: Member must ..." (member in lowerCamelCase,
    as in the JSON request: 'endpointName', 'modelName'); an empty list means the name is valid.
    """
    prefix = f"Value '{value}' at '{member}' failed to satisfy constraint: Member must"
    problems = []
    if len(value) > MAX_NAME_CHARS:
        problems.append(f"{prefix} have length less than or equal to {MAX_NAME_CHARS}")
    if not pattern.fullmatch(value):
        problems.append(f"{prefix} satisfy regular expression pattern: {pattern.pattern.strip('^$')}")
    return problems


def validation_message(problems: list[str]) -> str:
    """AWS's ValidationException text for `problems`: "1 validation error detected: ...; ..."."""
    count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected"
    return f"{count}: {'; '.join(problems)}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/part` -> ('bucket', 'key/part')."""
    if not uri.startswith("s3://"):
        raise ValueError(f"Not an S3 URI: {uri!r} (expected s3://bucket/key).")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


# --------------------------------------------------------------------------- the serving containers' timeout
# Neo's PyTorch inference images (the SageMaker SDK's image_uri_config/neo-pytorch.json names them).
NEO_PYTORCH_IMAGES = ("sagemaker-inference-pytorch", "sagemaker-neo-pytorch")
RESPONSE_TIMEOUT_S = "500"  # a compiled model may take long to load (AWS's "Deploy a Compiled Model Using Boto3")


def response_timeout_variable(image: str) -> str:
    """The variable the image's model server takes its per-request timeout from.

    Neo's images run Multi Model Server, which copies every `MMS_*` variable over its config when
    `enable_envvars_config=true` (awslabs/multi-model-server ConfigManager.setSystemVars;
    sagemaker-inference-toolkit's etc/default-mms.properties sets it):
    MMS_DEFAULT_RESPONSE_TIMEOUT -> default_response_timeout. The `pytorch-inference` 2.x images
    run TorchServe, whose config sagemaker-pytorch-inference-toolkit writes from
    SAGEMAKER_MODEL_SERVER_TIMEOUT (torchserve.py `_generate_ts_config_properties`:
    default_response_timeout=env.model_server_timeout; sagemaker_inference/parameters.py names the
    variable). The SageMaker SDK sets neither: its `Model._script_mode_env_vars` sets four
    SAGEMAKER_* variables (PROGRAM, SUBMIT_DIRECTORY, CONTAINER_LOG_LEVEL, REGION).
    """
    if any(name in image for name in NEO_PYTORCH_IMAGES):
        return "MMS_DEFAULT_RESPONSE_TIMEOUT"
    return "SAGEMAKER_MODEL_SERVER_TIMEOUT"

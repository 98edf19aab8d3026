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

# botocore's sagemaker service model, shape EntityName (compilation jobs, models, endpoints...):
# max 63 characters, pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}.
ENTITY_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")

# botocore's sagemaker service model, shape FailureReason: max 1024 characters.
MAX_FAILURE_REASON_CHARS = 1024


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


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/part` -> ('bucket', 'key/part')."""
    if not uri.startswith("s3://"):
        raise ValueError(f"Not an S3 URI: {uri!r} (expected s3://bucket/key).")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key

"""What real SageMaker and Neo define, spelled once for both sides.

The notebooks' helpers check requests against these facts before AWS would refuse them, and the
local backend enforces the same facts so a request that works locally works on AWS. This module
is a leaf: it imports nothing from `helpers`, so the client side (`aws`, `neo`, `endpoints`) and
the local emulator (`helpers.local`) can both depend on it without depending on each other.
"""

from __future__ import annotations

import re

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

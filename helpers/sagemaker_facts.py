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

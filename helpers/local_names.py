"""The local backend's vocabulary, spelled once: every module on either side uses these names.

A leaf (it imports nothing from `helpers`): `helpers.local` uses it to lay out its files and
configure its clients, and the client side uses it to read what the local backend adds (the
gateway's timing header), without importing the emulator.
"""

from __future__ import annotations

HOST = "127.0.0.1"  # every server of the local backend listens on loopback only
STATE_DIR_NAME = "local-aws"  # <work_dir>/local-aws: run file, logs, compilation jobs, endpoints

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account for any access key
# moto accepts any keys; these only keep boto3 from looking for real ones.
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

# What the local backend's outputs look like. "local": its own (OpenVINO artifacts, a timing header).
# "aws": the stand-in CI runs the notebooks' `aws` branch against. Compiled ml_* artifacts take
# real Neo's PyTorch layout, the gateway adds nothing real SageMaker does not send, and model
# servers for Neo's inference images can import a stand-in `neopytorch` (STANDIN_MODULES_DIR, shipped
# with the tests). It is the same backend, not a second emulator.
FIDELITIES = ("local", "aws")
STANDIN_MODULES_DIR = "tests/standin"  # relative to the checkout

# The runtime gateway's own share of an invocation, in ms, on every response it sends.
GATEWAY_MS_HEADER = "x-neo-workshop-gateway-ms"
# ... and the model server's (what it records as ModelLatency), so a benchmark can take
# round trip minus ModelLatency call by call (CloudWatch on `local` has no percentiles).
MODEL_MS_HEADER = "x-neo-workshop-model-ms"


def dummy_credential_env() -> dict[str, str]:
    """DUMMY_CREDENTIALS as environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""
    return {key.upper(): value for key, value in DUMMY_CREDENTIALS.items()}

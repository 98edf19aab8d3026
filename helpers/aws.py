"""Connect to a backend: real AWS, or the embedded local one. The notebooks' boto3 code is the same.

`connect()` returns a `Backend` holding a boto3 session, the region, an IAM role SageMaker can
assume, and a bucket. For `local` it starts (or finds) the local backend for the work directory
and sets `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` with dummy credentials in this
process, so every boto3 client created afterwards talks to it without any code change.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.paths import work_dir as resolve_work_dir
from helpers.sagemaker_facts import DEFAULT_PYTORCH_VERSION, sdk_default_bucket, split_s3_uri
from helpers.tags import workshop_tags  # noqa: F401 - the notebooks pass aws.workshop_tags() as Tags=

BACKENDS = ("local", "aws")
BACKEND_ENV = "NEO_WORKSHOP_BACKEND"
ROLE_ENV = "NEO_WORKSHOP_ROLE_ARN"
LOCAL_ROLE_NAME = "NeoWorkshopSageMakerRole"
RESOURCE_PREFIX = "neo-workshop"
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")
SAGEMAKER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass(frozen=True)
class Backend:
    """Where the workshop runs: what every notebook needs to make its boto3 calls."""

    name: str
    session: Any  # boto3.Session
    region: str
    account_id: str
    role_arn: str
    bucket: str
    work_dir: Path

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    def client(self, service: str) -> Any:
        """A boto3 client for `service` (routed to the local backend when it is in use)."""
        return self.session.client(service)

    def s3_uri(self, *parts: str) -> str:
        """`s3://<bucket>/neo-workshop/<parts...>`: every object the workshop writes."""
        return "s3://" + "/".join([self.bucket, RESOURCE_PREFIX, *parts])

    def __str__(self) -> str:
        where = "embedded local AWS (moto + local Neo + local endpoints; no account, no cost)" if self.is_local else "REAL AWS (resources cost money until deleted)"
        return (
            f"backend : {self.name} - {where}\n"
            f"region  : {self.region}\naccount : {self.account_id}\n"
            f"role    : {self.role_arn}\nbucket  : s3://{self.bucket}\nwork dir: {self.work_dir}"
        )


def connect(backend: str = "local", work_dir: str | Path | None = None) -> Backend:
    """Connect to `backend` ('local' or 'aws'); `$NEO_WORKSHOP_BACKEND` overrides the argument."""
    name = os.environ.get(BACKEND_ENV) or backend
    if name not in BACKENDS:
        raise ValueError(f"Unknown backend {name!r}: use 'local' (default, no AWS account) or 'aws'.")
    work = resolve_work_dir(work_dir)
    return _connect_local(work) if name == "local" else _connect_aws(work)


def _connect_local(work: Path) -> Backend:
    import boto3

    from helpers.local import control

    info = control.start(work)
    local_env = control.env_vars(info)
    _route_to_local(local_env)
    # The workshop's own clients get the dummy keys explicitly: the user's credentials stay as they were.
    session = boto3.Session(region_name=info.region, aws_access_key_id=local_env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=local_env["AWS_SECRET_ACCESS_KEY"])
    bucket = sdk_default_bucket(info.region, info.account_id)  # what the SDK config file names too
    s3 = session.client("s3")
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    return Backend("local", session, info.region, info.account_id, _local_role(session), bucket, work)


CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
_set_by_local: dict[str, tuple[str, str | None]] = {}  # variable -> (value we set, value before)


def _user_has_credentials() -> bool:
    """Keys, a profile or a credentials/config file of the user's own (not the dummy keys we set)."""
    if any(os.environ.get(v) and not _is_ours(v) for v in (*CREDENTIAL_VARIABLES, "AWS_PROFILE")):
        return True
    files = (("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"), ("AWS_CONFIG_FILE", "~/.aws/config"))
    return any(Path(os.environ.get(v) or default).expanduser().is_file() for v, default in files)


def _route_to_local(variables: dict[str, str]) -> None:
    """Send every boto3 client of this process to the local backend, without clobbering anything.

    The endpoint URLs are always set (that is what routes other clients, an SDK's included, here);
    the dummy keys and the region only where the user has none, so a kernel that switches to `aws`
    afterwards still finds the user's own credentials and region.
    """
    keep_credentials = _user_has_credentials()
    for variable, value in variables.items():
        ours_or_unset = not os.environ.get(variable) or _is_ours(variable)
        if variable in ENDPOINT_VARIABLES or (ours_or_unset and not (variable in CREDENTIAL_VARIABLES and keep_credentials)):
            before = _set_by_local[variable][1] if _is_ours(variable) else os.environ.get(variable)
            os.environ[variable] = value
            _set_by_local[variable] = (value, before)


def _is_ours(variable: str) -> bool:
    return variable in _set_by_local and os.environ.get(variable) == _set_by_local[variable][0]


def _forget_local_routing() -> None:
    """Undo _route_to_local: what it set (and nobody changed since) gets its earlier value back.

    An endpoint URL the user configured (LocalStack, a proxy, the workshop's own stand-in in CI)
    is therefore kept, as boto3 itself would honour it.
    """
    for variable in list(_set_by_local):
        if _is_ours(variable):
            before = _set_by_local[variable][1]
            if before is None:
                del os.environ[variable]
            else:
                os.environ[variable] = before
        del _set_by_local[variable]


def _local_role(session: Any) -> str:
    """The IAM role SageMaker 'assumes' locally, created once like you would in the console."""
    iam = session.client("iam")
    try:
        return iam.get_role(RoleName=LOCAL_ROLE_NAME)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName=LOCAL_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))
        return role["Role"]["Arn"]


def _connect_aws(work: Path) -> Backend:
    import boto3

    _forget_local_routing()  # a kernel that used `local` before must not route there any more
    session = boto3.Session()
    if not session.region_name:
        raise RuntimeError("No AWS region configured: set AWS_DEFAULT_REGION (e.g. us-east-1) or run `aws configure`.")
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except Exception as exc:  # noqa: BLE001 - botocore raises several credential errors
        raise RuntimeError(
            f"No usable AWS credentials ({type(exc).__name__}: {exc}). Configure them (aws configure, "
            "SSO or a Studio execution role), or use BACKEND = 'local'."
        ) from exc
    bucket = sdk_default_bucket(session.region_name, account)
    backend = Backend("aws", session, session.region_name, account, _aws_role(session), bucket, work)
    ensure_bucket(backend)
    from helpers.running import print_notice

    print_notice(backend.client("sagemaker"))  # endpoints an earlier notebook left billing, and how to delete them
    return backend


# Studio spaces and notebook instances describe themselves here; the SDKs' get_execution_role reads
# it first (sagemaker-core session_helper / SDK v2 session.py: NOTEBOOK_METADATA_FILE).
SAGEMAKER_METADATA_FILE = Path("/opt/ml/metadata/resource-metadata.json")


def _aws_role(session: Any = None) -> str:
    """The execution role: `$NEO_WORKSHOP_ROLE_ARN`, or the Studio/notebook-instance role.

    Outside SageMaker the SDKs' get_execution_role would turn the caller's own identity (an SSO
    or assumed role) into a "role" that SageMaker then cannot assume, failing much later: there the
    role must be given explicitly. Inside, the SDK reads the space's metadata; where that fails
    (a space whose metadata names no user profile makes sagemaker-core call DescribeUserProfile
    without one), the kernel's own credentials are the execution role's: STS names it.
    """
    if os.environ.get(ROLE_ENV):
        return os.environ[ROLE_ENV]
    if not SAGEMAKER_METADATA_FILE.exists():
        raise RuntimeError(f"Not running inside SageMaker Studio or a notebook instance, so there is no default "
                           f"execution role: export {ROLE_ENV}=arn:aws:iam::<account>:role/<a SageMaker execution "
                           "role> (docs/AWS.md).")
    from helpers import sdk  # SDK v3's sagemaker-core or Studio's SDK v2, whichever imports

    try:
        return sdk.execution_role()
    except Exception as exc:  # noqa: BLE001 - the SDKs raise ValueError, botocore errors, SDKNotFoundError
        sdk_error = exc
    try:
        return _role_of_caller(session)
    except Exception as exc:  # noqa: BLE001 - no session, not an assumed role, STS refused
        raise RuntimeError(f"Could not look up this space's execution role ({type(sdk_error).__name__}: {sdk_error}; "
                           f"from STS: {exc}): the role may lack sagemaker:DescribeUserProfile/DescribeDomain/"
                           f"DescribeSpace; set {ROLE_ENV} to the execution role's ARN.") from sdk_error


ASSUMED_ROLE = re.compile(r"arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/.+")


def _role_of_caller(session: Any) -> str:
    """The IAM role whose credentials this kernel uses, as an IAM role ARN with its path.

    The same steps as sagemaker-core's Session.get_caller_identity_arn (helper/session_helper.py)
    after its metadata look-up: STS GetCallerIdentity gives
    arn:aws:sts::<account>:assumed-role/<name>/<session>; IAM GetRole gives the ARN with the role's
    path (console-made execution roles live under service-role/); without iam:GetRole, a name
    starting AmazonSageMaker-ExecutionRole is taken to be under service-role/, as the SDK does.
    """
    if session is None:
        raise ValueError("no AWS session to ask")
    arn = session.client("sts").get_caller_identity()["Arn"]
    match = ASSUMED_ROLE.fullmatch(arn)
    if match is None:
        raise ValueError(f"the caller {arn} is not an assumed role")
    partition, account, name = match.groups()
    from botocore.config import Config

    quick = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1})  # a VPC-only domain may not reach IAM
    try:
        return session.client("iam", config=quick).get_role(RoleName=name)["Role"]["Arn"]
    except Exception:  # noqa: BLE001 - no iam:GetRole permission: build the ARN as the SDK does
        path = "service-role/" if name.startswith("AmazonSageMaker-ExecutionRole") else ""
        return f"arn:{partition}:iam::{account}:role/{path}{name}"


def ensure_bucket(backend: Backend) -> None:
    """Create the workshop bucket on real AWS if this account does not have it yet."""
    s3 = backend.client("s3")
    try:
        s3.head_bucket(Bucket=backend.bucket)
        return
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("403", "AccessDenied", "Forbidden"):
            raise RuntimeError(f"s3://{backend.bucket} exists but these credentials may not use it (403): grant "
                               "s3:ListBucket/GetObject/PutObject/DeleteObject on it (docs/AWS.md).") from exc
        config = {} if backend.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": backend.region}}
        s3.create_bucket(Bucket=backend.bucket, **config)


def require_s3_object(backend: Backend, uri: str, made_by: str) -> str:
    """Check an object an earlier notebook uploaded is still there; say what to re-run if not."""
    s3 = backend.client("s3")
    bucket, key = split_s3_uri(uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        hint = " The local backend keeps S3 in memory: it was restarted since." if backend.is_local else ""
        raise RuntimeError(f"{uri} is not in S3 ({exc.response['Error']['Code']}).{hint} Re-run {made_by}.") from exc
    return uri


def console_url(backend: Backend, kind: str, name: str) -> str:
    """Link to the SageMaker console page of a resource (kind: 'endpoints', 'compilation-jobs')."""
    return f"https://{backend.region}.console.aws.amazon.com/sagemaker/home?region={backend.region}#/{kind}/{name}"


LOCAL_IMAGE = "neo-workshop/local-model-server:pytorch-cpu"


def pytorch_inference_image(backend: Backend, framework_version: str = DEFAULT_PYTORCH_VERSION,
                            instance_type: str = "ml.c5.xlarge") -> str:
    """The SageMaker PyTorch inference image for the region (the uncompiled model's container).

    On `aws` it comes from the SageMaker SDK's image URI tables (v3's sagemaker-core or v2,
    imported only here: ~8 s). The local backend runs no containers: its model server speaks the
    same container contract, so the image is only a label there.
    """
    if backend.is_local:
        return LOCAL_IMAGE
    from helpers import sdk

    return sdk.image_uri("pytorch", backend.region, framework_version, instance_type)

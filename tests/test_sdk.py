"""The aws backend uses whichever SageMaker SDK the kernel has: v3's sagemaker-core or Studio's v2.

SDK v2 is not installed here (it would replace sagemaker-core 2.x), so the SDKs are fake modules
put in `sys.modules`, laid out as the real ones are (see helpers/sdk.py for the sources).
"""

from __future__ import annotations

import sys
import types

import pytest

from helpers import aws, sdk

SAGEMAKER_MODULES = ("sagemaker", "sagemaker.core", "sagemaker.core.helper",
                     "sagemaker.core.helper.session_helper", "sagemaker.core.image_uris", "sagemaker.image_uris")


def _module(name: str, **attributes: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def _retrieve(sdk_name: str, calls: list):
    def retrieve(framework, region, version=None, py_version=None, instance_type=None, image_scope=None, **_):
        calls.append(dict(framework=framework, region=region, version=version, py_version=py_version,
                          instance_type=instance_type, image_scope=image_scope))
        return f"{sdk_name}/{framework}-{image_scope}:{version}"
    return retrieve


def _install(monkeypatch, **modules: types.ModuleType | None) -> None:
    """Make exactly these sagemaker modules importable (None: import fails), hiding the real ones."""
    for name in SAGEMAKER_MODULES:
        monkeypatch.setitem(sys.modules, name, modules.get(name))


def _fake_v3(monkeypatch, calls: list) -> None:
    session_helper = _module("sagemaker.core.helper.session_helper",
                             get_execution_role=lambda: "arn:aws:iam::111122223333:role/v3")
    helper = _module("sagemaker.core.helper", session_helper=session_helper)
    image_uris = _module("sagemaker.core.image_uris", retrieve=_retrieve("v3", calls))
    core = _module("sagemaker.core", helper=helper, image_uris=image_uris)
    _install(monkeypatch, **{"sagemaker": _module("sagemaker", core=core), "sagemaker.core": core,
                             "sagemaker.core.helper": helper,
                             "sagemaker.core.helper.session_helper": session_helper,
                             "sagemaker.core.image_uris": image_uris})


def _fake_v2(monkeypatch, calls: list) -> None:
    image_uris = _module("sagemaker.image_uris", retrieve=_retrieve("v2", calls))
    v2 = _module("sagemaker", image_uris=image_uris,
                 get_execution_role=lambda: "arn:aws:iam::111122223333:role/v2")
    _install(monkeypatch, **{"sagemaker": v2, "sagemaker.image_uris": image_uris})  # no sagemaker.core


@pytest.fixture
def in_studio(monkeypatch, tmp_path):
    """Inside a Studio space: the metadata file the SDKs read their role from exists."""
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text('{"DomainId": "d-test"}')
    monkeypatch.setattr(aws, "SAGEMAKER_METADATA_FILE", metadata)


@pytest.fixture
def aws_backend(tmp_path):
    return aws.Backend("aws", None, "eu-west-1", "111122223333", "arn:role", "bucket", tmp_path)


def test_sdk_v3_sagemaker_core_is_used_when_importable(monkeypatch, aws_backend, in_studio):
    calls = []
    _fake_v3(monkeypatch, calls)
    monkeypatch.delenv(aws.ROLE_ENV, raising=False)
    assert sdk.find_sdk().name == sdk.V3
    assert aws._aws_role() == "arn:aws:iam::111122223333:role/v3"
    assert aws.pytorch_inference_image(aws_backend, "2.0", "ml.c5.xlarge") == "v3/pytorch-inference:2.0"


def test_studios_sdk_v2_is_used_when_there_is_no_sagemaker_core(monkeypatch, aws_backend, in_studio):
    calls = []
    _fake_v2(monkeypatch, calls)
    monkeypatch.delenv(aws.ROLE_ENV, raising=False)
    assert sdk.find_sdk().name == sdk.V2
    assert aws._aws_role() == "arn:aws:iam::111122223333:role/v2"
    assert aws.pytorch_inference_image(aws_backend, "2.0", "ml.c5.xlarge") == "v2/pytorch-inference:2.0"
    assert calls == [dict(framework="pytorch", region="eu-west-1", version="2.0", py_version="py310",
                          instance_type="ml.c5.xlarge", image_scope="inference")]


def test_the_role_arn_variable_needs_no_sdk(monkeypatch):
    _install(monkeypatch)
    monkeypatch.setenv(aws.ROLE_ENV, "arn:aws:iam::111122223333:role/mine")
    assert aws._aws_role() == "arn:aws:iam::111122223333:role/mine"


def test_without_any_sdk_the_error_says_what_to_do(monkeypatch, aws_backend, in_studio):
    _install(monkeypatch)
    monkeypatch.delenv(aws.ROLE_ENV, raising=False)
    with pytest.raises(sdk.SDKNotFoundError, match=r"aws extra.*SDK v2"):
        sdk.find_sdk()
    with pytest.raises(RuntimeError, match=aws.ROLE_ENV):
        aws._aws_role()
    with pytest.raises(ImportError, match="No SageMaker Python SDK"):
        aws.pytorch_inference_image(aws_backend)


def test_outside_sagemaker_the_role_lookup_says_to_set_the_variable(monkeypatch, tmp_path):
    """No SDK call there: it would turn an SSO/assumed identity into a role SageMaker cannot assume."""
    calls = []
    _fake_v2(monkeypatch, calls)
    monkeypatch.setattr(sys.modules["sagemaker"], "get_execution_role", lambda: pytest.fail("looked up outside SageMaker"))
    monkeypatch.setattr(aws, "SAGEMAKER_METADATA_FILE", tmp_path / "absent.json")
    monkeypatch.delenv(aws.ROLE_ENV, raising=False)
    with pytest.raises(RuntimeError, match=f"Not running inside SageMaker.*{aws.ROLE_ENV}"):
        aws._aws_role()


def test_a_failed_lookup_inside_studio_names_the_permission(monkeypatch, in_studio):
    def denied():
        raise ValueError("AccessDenied: sagemaker:DescribeUserProfile")

    _fake_v2(monkeypatch, [])
    monkeypatch.setattr(sys.modules["sagemaker"], "get_execution_role", denied)
    monkeypatch.delenv(aws.ROLE_ENV, raising=False)
    with pytest.raises(RuntimeError, match=f"DescribeUserProfile.*{aws.ROLE_ENV}"):
        aws._aws_role()


@pytest.mark.parametrize(("version", "tag"), [("2.0", "2.0-cpu-py310"), ("1.13", "1.13-cpu-py39"),
                                              ("1.12", "1.12-cpu-py38"), ("1.8", "1.8-cpu-py3")])
def test_every_neo_pytorch_version_has_an_inference_image(version, tag, tmp_path):
    """The real SDK's tables (sagemaker-core is installed by the aws extra), not a fake."""
    backend = aws.Backend("aws", None, "us-east-1", "111122223333", "arn:role", "bucket", tmp_path)
    assert tag in aws.pytorch_inference_image(backend, version, "ml.c5.xlarge")


def stubbed_session(caller_arn: str, role: dict | None):
    """A boto3 session whose STS names `caller_arn` and whose IAM GetRole answers `role` (or is denied)."""
    import boto3
    from botocore.stub import Stubber

    session = boto3.Session(region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    sts, iam = session.client("sts"), session.client("iam")
    stubs = [Stubber(sts), Stubber(iam)]
    stubs[0].add_response("get_caller_identity", {"Arn": caller_arn, "Account": "111122223333", "UserId": "AROA:x"})
    if role is None:
        stubs[1].add_client_error("get_role", "AccessDenied", "not authorized to perform: iam:GetRole")
    else:
        stubs[1].add_response("get_role", {"Role": {**role, "Path": "/", "RoleId": "AROAEXAMPLE1234567890",
                                                     "CreateDate": "2026-01-01T00:00:00Z",
                                                     "RoleName": role["Arn"].rsplit("/", 1)[-1]}})
    for stub in stubs:
        stub.activate()
    clients = {"sts": sts, "iam": iam}
    return type("Session", (), {"client": lambda _self, name, **_: clients[name]})()


@pytest.mark.parametrize(("role", "expected"), [
    ({"Arn": "arn:aws:iam::111122223333:role/service-role/AmazonSageMaker-ExecutionRole-1"},
     "arn:aws:iam::111122223333:role/service-role/AmazonSageMaker-ExecutionRole-1"),  # IAM tells the path
    (None, "arn:aws:iam::111122223333:role/service-role/AmazonSageMaker-ExecutionRole-1"),  # the SDK's guess
])
def test_a_space_whose_metadata_names_no_profile_gets_its_role_from_sts(monkeypatch, in_studio, role, expected):
    """sagemaker-core calls DescribeUserProfile(UserProfileName=None) for a space's metadata without a
    profile and raises ParamValidationError; the kernel's credentials are the execution role's own."""
    def param_validation():
        raise ValueError("Parameter validation failed: Invalid type for parameter UserProfileName, value: None")

    _fake_v2(monkeypatch, [])
    monkeypatch.setattr(sys.modules["sagemaker"], "get_execution_role", param_validation)
    monkeypatch.delenv(aws.ROLE_ENV, raising=False)
    caller = "arn:aws:sts::111122223333:assumed-role/AmazonSageMaker-ExecutionRole-1/SageMaker"
    assert aws._aws_role(stubbed_session(caller, role)) == expected


def test_a_caller_that_is_not_an_assumed_role_is_not_taken_for_one(monkeypatch, in_studio):
    _fake_v2(monkeypatch, [])
    monkeypatch.setattr(sys.modules["sagemaker"], "get_execution_role", lambda: (_ for _ in ()).throw(ValueError("x")))
    monkeypatch.delenv(aws.ROLE_ENV, raising=False)
    with pytest.raises(RuntimeError, match=f"not an assumed role.*{aws.ROLE_ENV}"):
        aws._aws_role(stubbed_session("arn:aws:iam::111122223333:user/alice", None))

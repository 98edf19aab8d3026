"""The moto internals the local backend patches still look the way its services expect.

The compilation service (the local Neo) and the hosting service are patches on moto's private
classes, so a moto upgrade can break them silently: jobs would be COMPLETED at once with nothing
compiled, endpoints InService with no server behind them. These tests fail first, each with a
message saying which service to re-check. They read each service's own `MOTO_INTERNALS` (what it
touches) and exercise `moto_patch`, the one mechanism both use to install and uninstall.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType

import pytest

from helpers.local import (
    account_service,
    compilation_service,
    endpoint_logs,
    endpoint_metrics,
    hosting_service,
    hosting_steps,
    moto_patch,
    resource_names,
    response_shapes,
)
from helpers.local.run_file import RunInfo
from helpers.local_names import DEFAULT_ACCOUNT_ID as ACCOUNT
from helpers.local_names import DEFAULT_REGION as REGION

SERVICES = [compilation_service, hosting_service, response_shapes, resource_names, endpoint_metrics, endpoint_logs,
            account_service]
RECHECK = "re-check helpers/local/compilation_service.py against moto's sources (see MOTO_INTERNALS there)"


def _resolve(dotted: str) -> object:
    """Import `package.module.Class.attr`-style names, however deep the module part goes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            target = getattr(target, name)
        return target
    raise ImportError(dotted)


def _unwrapped(function: object) -> object:
    """The original moto function, even if a service was installed in this process."""
    return getattr(function, "__wrapped__", function)


def test_moto_version_is_the_one_the_services_were_written_for() -> None:
    import moto

    assert moto.__version__ == moto_patch.MOTO_VERSION, (
        f"moto {moto.__version__} is installed but the local services were written against "
        f"moto {moto_patch.MOTO_VERSION}: re-check helpers/local/compilation_service.py and "
        "hosting_service.py (MOTO_INTERNALS), then update MOTO_VERSION and the pin in pyproject.toml."
    )


@pytest.mark.parametrize("service", SERVICES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_listed_internal_resolves(service) -> None:
    for dotted in service.MOTO_INTERNALS:
        assert _resolve(dotted) is not None, f"{dotted}: re-check {service.__file__} (MOTO_INTERNALS)"


@pytest.mark.parametrize("service", SERVICES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_listed_modules_export_the_names_used(service) -> None:
    for dotted, names in service.MOTO_INTERNALS.items():
        target = _resolve(dotted)
        if isinstance(target, ModuleType):  # a module: these names are imported from it
            for name in names:
                assert hasattr(target, name), f"{dotted}.{name} is gone: re-check {service.__file__}"


def test_create_compilation_job_signature() -> None:
    name = "moto.sagemaker.models.SageMakerModelBackend.create_compilation_job"
    expected = compilation_service.MOTO_INTERNALS[name]
    params = list(inspect.signature(_unwrapped(_resolve(name))).parameters)
    assert params[0] == "self"
    assert sorted(params[1:]) == sorted(expected), f"{name} now takes {params[1:]}, not {list(expected)}: {RECHECK}"


def test_response_passes_keywords_to_create_compilation_job() -> None:
    """The wrapper needs `compilation_job_name` as a keyword argument, as moto's response sends it."""
    from moto.sagemaker.responses import SageMakerResponse

    source = inspect.getsource(SageMakerResponse.create_compilation_job)
    assert "compilation_job_name=compilation_job_name" in source, RECHECK


@pytest.fixture
def moto_backend():
    """moto's own SageMaker backend (mock_aws, in this process), with moto's methods unpatched."""
    from moto import mock_aws
    from moto.sagemaker.models import sagemaker_backends

    with mock_aws():
        yield sagemaker_backends[ACCOUNT][REGION]


@pytest.fixture
def moto_job(moto_backend):
    """A CompilationJob created through moto's own (unpatched) backend method."""
    from moto.sagemaker.models import SageMakerModelBackend

    _unwrapped(SageMakerModelBackend.create_compilation_job)(
        moto_backend, compilation_job_name="contract", role_arn=f"arn:aws:iam::{ACCOUNT}:role/r",
        output_config={"S3OutputLocation": "s3://bucket/out", "TargetDevice": "ml_c5"},
        stopping_condition={"MaxRuntimeInSeconds": 900}, model_package_version_arn=None,
        input_config={"S3Uri": "s3://bucket/model.tar.gz", "Framework": "PYTORCH",
                      "DataInputConfig": '{"input0": [1, 3, 224, 224]}'},
        vpc_config=None, tags=None,
    )
    return moto_backend, moto_backend.compilation_jobs["contract"]


def assert_has_listed_attributes(service, dotted: str, instance: object) -> None:
    """`instance`, a live moto object of class `dotted`, has every attribute `service` lists for it."""
    for attribute in service.MOTO_INTERNALS[dotted]:
        assert hasattr(instance, attribute), (
            f"{dotted} has no '{attribute}' any more: re-check {service.__file__} against moto (MOTO_INTERNALS)")


def test_backend_attributes(moto_job) -> None:
    backend, _ = moto_job
    assert_has_listed_attributes(compilation_service, "moto.sagemaker.models.SageMakerModelBackend", backend)
    assert isinstance(backend.compilation_jobs, dict)


def test_compilation_job_attributes(moto_job) -> None:
    _, job = moto_job
    assert_has_listed_attributes(compilation_service, "moto.sagemaker.models.CompilationJob", job)
    assert job.compilation_job_status == "COMPLETED", "moto no longer fakes instant completion: " + RECHECK


def test_describe_serialises_the_attributes_neo_sets(moto_job) -> None:
    """DescribeCompilationJob must read the attributes the worker overwrites, not copies of them."""
    _, job = moto_job
    job.compilation_job_status, job.failure_reason = "FAILED", "because"
    job.model_artifacts, job.inference_image = {"S3ModelArtifacts": "s3://b/k"}, "image"
    described = job.describe()
    assert (described["CompilationJobStatus"], described["FailureReason"]) == ("FAILED", "because"), RECHECK
    assert described["ModelArtifacts"] == {"S3ModelArtifacts": "s3://b/k"}, RECHECK
    assert described["InferenceImage"] == "image", RECHECK


def test_response_dispatch_finds_added_methods() -> None:
    """moto dispatches action X to the response class's function camelcase_to_underscores(X)."""
    from moto.core.utils import camelcase_to_underscores, method_names_from_class
    from moto.sagemaker.responses import SageMakerResponse

    assert camelcase_to_underscores("StopCompilationJob") == "stop_compilation_job", RECHECK
    call_action = inspect.getsource(_resolve("moto.core.responses.BaseResponse.call_action"))
    assert "camelcase_to_underscores" in call_action and "method_names_from_class" in call_action, RECHECK
    action = compilation_service._stop_compilation_job_action
    own = getattr(SageMakerResponse, "stop_compilation_job", action)
    assert own is action, "moto now implements StopCompilationJob: drop the local one or re-check it."
    assert "stop_compilation_job" not in method_names_from_class(SageMakerResponse) or own is action
    for member in compilation_service.MOTO_INTERNALS["moto.sagemaker.responses.SageMakerResponse"]:
        assert hasattr(SageMakerResponse, member), f"SageMakerResponse has no '{member}': {RECHECK}"


def test_exceptions_take_a_message_keyword() -> None:
    from moto.sagemaker.exceptions import ResourceNotFound, ValidationError

    assert ResourceNotFound(message="x").code == "ResourceNotFound", RECHECK
    assert ValidationError(message="x").code == "ValidationException", RECHECK


def _server(work_dir) -> RunInfo:
    return RunInfo(pid=0, endpoint_url="http://127.0.0.1:1", runtime_url="", work_dir=str(work_dir))


def test_install_replaces_and_uninstall_restores_moto(tmp_path) -> None:
    """install() wraps create_compilation_job once, even twice in a row; uninstall() leaves moto as it was."""
    from moto.core.utils import method_names_from_class
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    original = SageMakerModelBackend.create_compilation_job
    try:
        compilation_service.CompilationService(_server(tmp_path)).install()
        compilation_service.CompilationService(_server(tmp_path)).install()
        assert SageMakerModelBackend.create_compilation_job.__wrapped__ is original, "wrapped twice"
        assert "stop_compilation_job" in method_names_from_class(SageMakerResponse)
    finally:
        compilation_service.CompilationService.uninstall()
    assert SageMakerModelBackend.create_compilation_job is original
    assert "stop_compilation_job" not in method_names_from_class(SageMakerResponse)
    assert not hasattr(SageMakerModelBackend, "stop_compilation_job")


def test_moto_patch_refuses_to_hide_a_method_moto_has() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    def build(patch: moto_patch.MotoPatch) -> None:
        patch.wrap(SageMakerModelBackend, "list_endpoints", lambda original, *a, **k: original(*a, **k))
        patch.add(SageMakerModelBackend, "create_endpoint", lambda *a, **k: None)

    listing = SageMakerModelBackend.list_endpoints
    with pytest.raises(RuntimeError, match="moto now implements SageMakerModelBackend.create_endpoint"):
        moto_patch.install("contract-test", build)
    assert SageMakerModelBackend.list_endpoints is listing, "a failed install must undo what it did"


# ----------------------------------------------------------------------------- local hosting
HOSTING_RECHECK = "re-check helpers/local/hosting_service.py against moto's sources (see MOTO_INTERNALS there)"


@pytest.mark.parametrize(
    "name",
    ["moto.sagemaker.models.SageMakerModelBackend.create_endpoint",
     "moto.sagemaker.models.SageMakerModelBackend.delete_endpoint"],
)
def test_hosting_wrapped_method_signatures(name: str) -> None:
    expected = hosting_service.MOTO_INTERNALS[name]
    params = list(inspect.signature(_unwrapped(_resolve(name))).parameters)
    assert params == ["self", *expected], f"{name} now takes {params[1:]}, not {list(expected)}: {HOSTING_RECHECK}"


@pytest.mark.parametrize(
    "name",
    ["moto.sagemaker.models.SageMakerModelBackend.create_model",
     "moto.sagemaker.models.SageMakerModelBackend.create_endpoint_config"],
)
def test_name_checked_method_signatures(name: str) -> None:
    expected = hosting_service.MOTO_INTERNALS[name]
    params = list(inspect.signature(_unwrapped(_resolve(name))).parameters)
    assert params[0] == "self" and sorted(params[1:]) == sorted(expected), (
        f"{name} now takes {params[1:]}, not {list(expected)}: {HOSTING_RECHECK}")


def test_hosting_responses_pass_keywords() -> None:
    """The wrappers take the resource names as keywords, as moto's response layer sends them."""
    from moto.sagemaker.responses import SageMakerResponse

    assert "endpoint_name=self._get_param" in inspect.getsource(SageMakerResponse.create_endpoint), HOSTING_RECHECK
    assert "delete_endpoint(endpoint_name)" in inspect.getsource(SageMakerResponse.delete_endpoint), HOSTING_RECHECK
    assert "model_name=model_name" in inspect.getsource(SageMakerResponse.create_model), HOSTING_RECHECK
    assert "endpoint_config_name=self._get_param" in inspect.getsource(SageMakerResponse.create_endpoint_config)


def test_moto_still_lacks_update_endpoint() -> None:
    """UpdateEndpoint is added by hosting; if moto grows one, install() refuses (moto_patch.add)."""
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    assert not hasattr(SageMakerModelBackend, "update_endpoint"), "moto now implements UpdateEndpoint: " + HOSTING_RECHECK
    assert not hasattr(SageMakerResponse, "update_endpoint"), "moto now implements UpdateEndpoint: " + HOSTING_RECHECK


@pytest.fixture
def moto_endpoint(moto_backend):
    """A model, endpoint config and endpoint created through moto's own (unpatched) methods."""
    from moto.sagemaker.models import SageMakerModelBackend

    container = {"Image": "image", "ModelDataUrl": "s3://bucket/model.tar.gz", "Environment": {"A": "1"}}
    moto_backend.create_model(model_name="m", execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/r",
                              primary_container=container, vpc_config=None, containers=None, tags=None)
    moto_backend.create_endpoint_config(
        endpoint_config_name="c", data_capture_config=None, async_inference_config=None, tags=None,
        kms_key_id=None, production_variants=[
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.c5.xlarge",
             "InitialInstanceCount": 1}])
    endpoint = _unwrapped(SageMakerModelBackend.create_endpoint)(
        moto_backend, endpoint_name="e", endpoint_config_name="c", tags=None)
    return moto_backend, endpoint


def test_hosting_reads_what_moto_stores(moto_endpoint) -> None:
    backend, endpoint = moto_endpoint
    assert_has_listed_attributes(hosting_service, "moto.sagemaker.models.SageMakerModelBackend", backend)
    assert_has_listed_attributes(hosting_service, "moto.sagemaker.models.FakeEndpoint", endpoint)
    assert backend.endpoints["e"] is endpoint, HOSTING_RECHECK
    assert endpoint.endpoint_status == "InService", "moto no longer fakes instant InService: " + HOSTING_RECHECK
    assert_has_listed_attributes(hosting_service, "moto.sagemaker.models.Model", backend.describe_model("m"))
    assert_has_listed_attributes(resource_names, "moto.sagemaker.models.SageMakerModelBackend", backend)
    assert_has_listed_attributes(resource_names, "moto.sagemaker.models.FakeEndpoint", endpoint)
    assert_has_listed_attributes(resource_names, "moto.sagemaker.models.Model", backend.describe_model("m"))
    assert_has_listed_attributes(resource_names, "moto.sagemaker.models.FakeEndpointConfig", backend.endpoint_configs["c"])
    variant, container = hosting_steps.resolve_container(backend, endpoint.endpoint_config_name)
    assert variant == "AllTraffic", HOSTING_RECHECK
    assert container["ModelDataUrl"] == "s3://bucket/model.tar.gz" and container["Environment"] == {"A": "1"}


def test_describe_endpoint_serialises_what_hosting_sets(moto_endpoint) -> None:
    backend, endpoint = moto_endpoint
    hosted = hosting_service.HostedEndpoint(name="e", endpoint=endpoint, directory=Path("unused"), s3=lambda: None)
    hosted.set_status("Failed", "because")
    described = backend.describe_endpoint("e")
    assert (described["EndpointStatus"], described["FailureReason"]) == ("Failed", "because"), HOSTING_RECHECK
    assert described["LastModifiedTime"] == endpoint.last_modified_time, HOSTING_RECHECK
    hosted.set_status("InService")
    assert "FailureReason" not in backend.describe_endpoint("e"), HOSTING_RECHECK


def test_hosting_install_replaces_and_uninstall_restores_moto(tmp_path) -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    names = ("create_model", "create_endpoint_config", "create_endpoint", "delete_endpoint")
    originals = [getattr(SageMakerModelBackend, name) for name in names]
    first = hosting_service.HostingService(_server(tmp_path)).install()
    second = hosting_service.HostingService(_server(tmp_path)).install()
    try:
        for name, original in zip(names, originals, strict=True):
            assert getattr(SageMakerModelBackend, name).__wrapped__ is original, f"{name} wrapped twice"
        assert hasattr(SageMakerModelBackend, "update_endpoint")
        assert first is not second
    finally:
        second.uninstall()
    assert [getattr(SageMakerModelBackend, name) for name in names] == originals
    assert not hasattr(SageMakerModelBackend, "update_endpoint")


def test_hosting_patches_drive_describe_endpoint_in_process(mock_aws_server) -> None:
    """Through boto3 and moto's responses: Creating -> Failed (no model data), duplicate, delete."""
    import time

    import boto3

    hosting = hosting_service.HostingService(mock_aws_server).install()
    try:
        sm = boto3.client("sagemaker", region_name=REGION)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="contract-bucket")
        sm.create_model(ModelName="m", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
                        PrimaryContainer={"Image": "i", "ModelDataUrl": "s3://contract-bucket/none.tar.gz"})
        sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.c5.xlarge",
             "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
        statuses = [sm.describe_endpoint(EndpointName="e")["EndpointStatus"]]
        for _ in range(100):
            if statuses[-1] != "Creating":
                break
            time.sleep(0.05)
            statuses.append(sm.describe_endpoint(EndpointName="e")["EndpointStatus"])
        assert statuses[0] == "Creating" and statuses[-1] == "Failed", statuses
        reason = sm.describe_endpoint(EndpointName="e")["FailureReason"]
        assert "s3://contract-bucket/none.tar.gz" in reason
        with pytest.raises(sm.exceptions.ClientError, match="Cannot create already existing endpoint"):
            sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
        sm.delete_endpoint(EndpointName="e")
        assert sm.list_endpoints()["Endpoints"] == [] and hosting.running() == []
    finally:
        hosting.uninstall()


# ----------------------------------------------------------------------------- response shapes
SHAPES_RECHECK = "re-check helpers/local/response_shapes.py against moto's sources (see MOTO_INTERNALS there)"


def missing_required(value: object, shape, path: str) -> list[str]:
    """Members botocore's service model requires but `value` (a parsed response) lacks, recursively."""
    if shape.type_name == "list":
        return [m for i, item in enumerate(value) for m in missing_required(item, shape.member, f"{path}[{i}]")]
    if shape.type_name != "structure" or not isinstance(value, dict):
        return []
    missing = [f"{path}.{name}" for name in shape.required_members if name not in value]
    for name, member in value.items():
        if name in shape.members:
            missing += missing_required(member, shape.members[name], f"{path}.{name}")
    return missing


def test_serialisation_applies_a_response_classes_transformers() -> None:
    """moto serialises an ActionResult through the response class's RESPONSE_KEY_PATH_TO_TRANSFORMER."""
    from moto.core.responses import BaseResponse
    from moto.core.serialize import return_if_not_empty
    from moto.sagemaker.responses import SageMakerResponse

    source = inspect.getsource(_resolve("moto.core.responses.ActionResult.execute_result"))
    assert '"RESPONSE_KEY_PATH_TO_TRANSFORMER"' in source, SHAPES_RECHECK
    assert BaseResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER == {}, SHAPES_RECHECK
    assert response_shapes.TRANSFORMERS_ATTRIBUTE not in vars(SageMakerResponse), (
        "moto now sets its own SageMaker transformers: " + SHAPES_RECHECK)
    assert return_if_not_empty({}) is None and return_if_not_empty({"a": 1}) == {"a": 1}, SHAPES_RECHECK


@pytest.mark.parametrize("path", response_shapes.EMPTY_MEANS_ABSENT)
def test_every_dropped_member_is_one_an_empty_value_would_violate(path: str) -> None:
    """Each path is '<output shape>.<member>' of a SageMaker operation, and that member has required
    members: an empty one can never be SageMaker's answer, so leaving it out loses nothing."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape_name, member = path.split(".")
    outputs = {model.operation_model(op).output_shape.name: model.operation_model(op).output_shape
               for op in model.operation_names if model.operation_model(op).output_shape is not None}
    assert shape_name in outputs, f"{shape_name} is not an output shape of botocore's sagemaker model"
    assert member in outputs[shape_name].members and outputs[shape_name].members[member].required_members


# The service model requires these members of DescribeCompilationJob, yet no value exists for
# them before the job ends; the local Neo leaves them out until then (absence is what clients
# like sagemaker-core accept; AWS documents no in-progress value).
UNTIL_DONE = {"DescribeCompilationJob.FailureReason", "DescribeCompilationJob.ModelArtifacts"}


def test_describe_answers_carry_every_member_the_service_model_requires(mock_aws_server) -> None:
    """Through boto3 and moto's responses: resources created without the optional structures.
    Every structure an answer contains has the members its shape requires."""
    import boto3
    import botocore.session
    from moto.sagemaker.models import sagemaker_backends

    service = botocore.session.get_session().get_service_model("sagemaker")
    response_shapes.install()
    try:
        sm = boto3.client("sagemaker", region_name=REGION)
        sm.create_model(ModelName="m", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
                        PrimaryContainer={"Image": "i", "ModelDataUrl": "s3://b/model.tar.gz"})
        sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.c5.xlarge", "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
        sm.create_compilation_job(
            CompilationJobName="j", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
            InputConfig={"S3Uri": "s3://b/model.tar.gz", "DataInputConfig": "{}", "Framework": "PYTORCH"},
            OutputConfig={"S3OutputLocation": "s3://b/out", "TargetDevice": "ml_c5"},
            StoppingCondition={"MaxRuntimeInSeconds": 900})
        # as the local Neo leaves a running or failed job (CompilationRun.begin)
        sagemaker_backends[ACCOUNT][REGION].compilation_jobs["j"].model_artifacts = {}
        calls = {"DescribeModel": {"ModelName": "m"}, "DescribeEndpointConfig": {"EndpointConfigName": "c"},
                 "DescribeEndpoint": {"EndpointName": "e"}, "DescribeCompilationJob": {"CompilationJobName": "j"},
                 "ListModels": {}, "ListEndpoints": {}, "ListEndpointConfigs": {}, "ListCompilationJobs": {}}
        for operation, params in calls.items():
            answer = getattr(sm, botocore.xform_name(operation))(**params)
            answer.pop("ResponseMetadata")
            missing = missing_required(answer, service.operation_model(operation).output_shape, operation)
            assert set(missing) <= UNTIL_DONE, f"{missing}: {SHAPES_RECHECK}"
        assert "VpcConfig" not in sm.describe_model(ModelName="m")
        assert "ModelArtifacts" not in sm.describe_compilation_job(CompilationJobName="j")
    finally:
        response_shapes.uninstall()
    assert "VpcConfig" in sm.describe_model(ModelName="m"), "uninstall() must restore moto's own answers"


def test_shadow_refuses_an_attribute_the_class_sets_itself() -> None:
    class Base:
        table: dict = {}

    class Own(Base):
        table = {"x": 1}

    patch = moto_patch.MotoPatch("contract-test")
    with pytest.raises(RuntimeError, match="moto now sets Own.table itself"):
        patch.shadow(Own, "table", {})

    class Inherits(Base):
        pass

    patch.shadow(Inherits, "table", {"y": 2})
    assert Inherits.table == {"y": 2} and Base.table == {}
    patch.undo()
    assert "table" not in vars(Inherits) and Inherits.table == {}


def test_account_service_attributes_exist_on_live_moto_objects() -> None:
    """The IAM role and response attributes the stand-in's SimulatePrincipalPolicy reads."""
    import json

    import boto3
    from moto import mock_aws
    from moto.iam.models import iam_backends

    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        iam.create_role(RoleName="contract", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
        role = iam_backends[ACCOUNT]["global"].get_role("contract")
        assert_has_listed_attributes(account_service, "moto.iam.models.Role", role)

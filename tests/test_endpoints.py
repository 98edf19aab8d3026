"""helpers.endpoints: waiting for endpoints and timing invoke_endpoint, against fake clients.

(The real clients run in tests/test_gateway_hosting.py and notebooks 03 and 05.) No timing assertions.
"""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import WaiterError

from helpers.endpoints import WAIT_PHASES, time_endpoint, wait_for_endpoints
from helpers.local_names import GATEWAY_MS_HEADER, MODEL_MS_HEADER


class FakeRuntimeClient:
    def __init__(self, gateway_header: bool) -> None:
        self.calls: list[dict] = []
        self.gateway_header = gateway_header

    def invoke_endpoint(self, **kwargs):
        self.calls.append(kwargs)
        headers = {"content-type": "application/json"}
        if self.gateway_header:
            headers[GATEWAY_MS_HEADER] = "1.25"
            headers[MODEL_MS_HEADER] = "20.5"
        return {"Body": io.BytesIO(b"{}"), "ResponseMetadata": {"HTTPHeaders": headers}}


def test_time_endpoint_reads_the_gateway_header():
    client = FakeRuntimeClient(gateway_header=True)
    timing = time_endpoint(client, "ep", b"abc", "image/jpeg", repeats=4, warmup=2, accept="application/json")
    assert len(client.calls) == 6
    assert client.calls[0] == {"EndpointName": "ep", "Body": b"abc", "ContentType": "image/jpeg",
                               "Accept": "application/json"}
    assert len(timing["round_trip_ms"]) == 4 and all(ms >= 0 for ms in timing["round_trip_ms"])
    assert timing["gateway_ms"] == [1.25] * 4 and timing["model_ms"] == [20.5] * 4


def test_time_endpoint_without_gateway_header():
    timing = time_endpoint(FakeRuntimeClient(gateway_header=False), "ep", b"x", "application/x-npy",
                           repeats=3, warmup=0)
    assert len(timing["round_trip_ms"]) == 3
    assert timing["gateway_ms"] == [] and timing["model_ms"] == []


class FakeSageMaker:
    """`get_waiter("endpoint_in_service")` whose wait ends as `outcomes` says (None = InService)."""

    def __init__(self, outcomes: dict[str, dict | None]) -> None:
        self.outcomes, self.waited = outcomes, []

    def get_waiter(self, name: str):
        assert name == "endpoint_in_service"
        return self

    def wait(self, EndpointName: str, WaiterConfig: dict) -> None:  # noqa: N803 - boto3's names
        self.waited.append(EndpointName)
        last = self.outcomes[EndpointName]
        if last is not None:
            raise WaiterError(name="EndpointInService", reason="terminal failure state", last_response=last)


def test_wait_for_endpoints_waits_for_each_with_the_waiter():
    sm = FakeSageMaker({"a": None, "b": None})
    wait_for_endpoints(sm, ["a", "b"])
    assert sm.waited == ["a", "b"]


def test_a_failed_endpoint_raises_with_its_failure_reason_after_waiting_for_the_others():
    sm = FakeSageMaker({"a": {"EndpointStatus": "Failed", "FailureReason": "model_fn raised"}, "b": None})
    with pytest.raises(RuntimeError, match="a: model_fn raised") as raised:
        wait_for_endpoints(sm, ["a", "b"])
    assert sm.waited == ["a", "b"] and "b:" not in str(raised.value)


class SlowSageMaker(FakeSageMaker):
    """The waiter runs out of attempts `creating_for` times (still Creating), then succeeds."""

    def __init__(self, creating_for: int, not_found_first: int = 0) -> None:
        super().__init__({})
        self.creating_for, self.not_found_first, self.configs = creating_for, not_found_first, []

    def wait(self, EndpointName: str, WaiterConfig: dict) -> None:  # noqa: N803 - boto3's names
        self.configs.append(WaiterConfig)
        if self.not_found_first:
            self.not_found_first -= 1
            raise WaiterError(name="EndpointInService", reason="Waiter encountered a terminal failure state",
                              last_response={"Error": {"Code": "ValidationException",
                                                       "Message": f"Could not find endpoint {EndpointName}"}})
        if self.creating_for:
            self.creating_for -= 1
            raise WaiterError(name="EndpointInService", reason="Max attempts exceeded",
                              last_response={"EndpointStatus": "Creating"})


def test_a_slow_endpoint_is_waited_for_with_longer_polls_as_on_aws():
    """Issue 8, item 7: real endpoints take 5-15 minutes; quick polls first, then every 15 s."""
    sm = SlowSageMaker(creating_for=1)
    wait_for_endpoints(sm, ["slow"], phases=((0, 1), (0, 2)))
    assert sm.configs == [{"Delay": 0, "MaxAttempts": 1}, {"Delay": 0, "MaxAttempts": 2}]
    total_minutes = sum(delay * attempts for delay, attempts in WAIT_PHASES) / 60
    assert total_minutes >= 30, "on aws wait at least 30 minutes"
    assert all(delay <= 30 for delay, _ in WAIT_PHASES)


def test_an_endpoint_still_creating_at_the_end_says_it_bills_and_how_to_delete_it():
    sm = SlowSageMaker(creating_for=5)
    with pytest.raises(RuntimeError, match="still Creating.*billed.*cleanup --backend aws --yes"):
        wait_for_endpoints(sm, ["stuck"], phases=((0, 1), (0, 1)))


def test_an_endpoint_not_visible_yet_is_looked_for_again():
    sm = SlowSageMaker(creating_for=0, not_found_first=2)
    wait_for_endpoints(sm, ["new"], phases=((0, 1),))
    assert len(sm.configs) == 3


def test_notebook_03_gives_the_container_every_variable_aws_documents():
    """Issue 8, fact 3: the Environment notebook 03 teaches is the one `deploy` (notebook 05) uses."""
    import json

    from helpers.aws import LOCAL_IMAGE
    from helpers.endpoints import container_environment
    from helpers.paths import NOTEBOOKS_DIR

    cells = json.loads((NOTEBOOKS_DIR / "03_deploy_endpoint.ipynb").read_text())["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for image in ("123.dkr.ecr.us-east-1.amazonaws.com/sagemaker-inference-pytorch:1.8-cpu-py3", LOCAL_IMAGE):
        for variable, value in container_environment("us-east-1", image).items():
            if variable.endswith("TIMEOUT"):  # chosen per image, by the same function
                assert f'endpoints.response_timeout_variable(image): "{value}"' in source
                continue
            assert f'"{variable}"' in source, f"notebook 03's create_model lacks {variable}"
            if variable != "SAGEMAKER_REGION":
                assert f'"{variable}": "{value}"' in source


def test_each_image_gets_the_timeout_variable_its_model_server_reads():
    """Neo's images run MMS (MMS_*), pytorch-inference 2.x runs TorchServe (SAGEMAKER_MODEL_SERVER_TIMEOUT)."""
    from helpers.endpoints import container_environment

    neo = container_environment("eu-west-1", "123.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-inference-pytorch:1.8-cpu-py3")
    torchserve = container_environment("eu-west-1", "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.0-cpu-py310")
    assert neo["MMS_DEFAULT_RESPONSE_TIMEOUT"] == torchserve["SAGEMAKER_MODEL_SERVER_TIMEOUT"] == "500"
    assert "SAGEMAKER_MODEL_SERVER_TIMEOUT" not in neo and "MMS_DEFAULT_RESPONSE_TIMEOUT" not in torchserve


class RefusingSageMaker:
    """Lists one of each resource; the endpoint is InService but DeleteEndpoint is refused (a permission)."""

    class exceptions:  # noqa: N801 - boto3's attribute name
        from botocore.exceptions import ClientError

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def get_paginator(self, method: str):
        key, field = {"list_endpoints": ("Endpoints", "EndpointName"),
                      "list_endpoint_configs": ("EndpointConfigs", "EndpointConfigName"),
                      "list_models": ("Models", "ModelName")}[method]
        return type("P", (), {"paginate": lambda _self, **kw: [{key: [{field: "neo-workshop-ep-x"}]}]})()

    def describe_endpoint(self, EndpointName):  # noqa: N803
        return {"EndpointName": EndpointName, "EndpointStatus": "InService"}

    def delete_endpoint(self, EndpointName):  # noqa: N803
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform: "
                                     "sagemaker:DeleteEndpoint"}}, "DeleteEndpoint")

    def get_waiter(self, name):
        return type("W", (), {"wait": lambda _self, **kw: None})()

    def delete_endpoint_config(self, EndpointConfigName):  # noqa: N803
        self.deleted.append(EndpointConfigName)

    def delete_model(self, ModelName):  # noqa: N803
        self.deleted.append(ModelName)


def test_cleanup_goes_on_after_a_refusal_and_says_what_is_left():
    from helpers.endpoints import delete_workshop_endpoints

    sm = RefusingSageMaker()
    with pytest.raises(RuntimeError, match="endpoint neo-workshop-ep-x: not authorized to perform: sagemaker:DeleteEndpoint.*bills"):
        delete_workshop_endpoints(sm, "neo-workshop-ep")
    assert sm.deleted == ["neo-workshop-ep-x", "neo-workshop-ep-x"], "configs and models are still deleted"


def stubbed_sagemaker():
    import boto3
    from botocore.stub import Stubber

    sm = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return sm, Stubber(sm)


def described(name: str, status: str) -> dict:
    return {"EndpointName": name, "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}",
            "EndpointConfigName": name, "EndpointStatus": status, "CreationTime": 0, "LastModifiedTime": 0}


def test_an_endpoint_still_creating_is_waited_out_then_deleted(capsys):
    """SageMaker refuses DeleteEndpoint while Creating ('Cannot update in-progress endpoint'): the
    clean-up waits until it is InService (or Failed), deletes it, and waits until it is gone."""
    from helpers.endpoints import delete_endpoints

    sm, stub = stubbed_sagemaker()
    stub.add_response("describe_endpoint", described("e", "Creating"), {"EndpointName": "e"})
    stub.add_response("describe_endpoint", described("e", "Creating"), {"EndpointName": "e"})  # the waiter
    stub.add_response("describe_endpoint", described("e", "InService"), {"EndpointName": "e"})
    stub.add_response("delete_endpoint", {}, {"EndpointName": "e"})
    stub.add_client_error("describe_endpoint", "ValidationException", 'Could not find endpoint "e".')
    with stub:
        assert delete_endpoints(sm, ["e"], phases=((0, 5),), delete_wait={"Delay": 0, "MaxAttempts": 2}) == {}
    stub.assert_no_pending_responses()
    assert "e is still in progress: SageMaker deletes it only once that is over" in capsys.readouterr().out


def test_an_endpoint_that_never_settles_is_reported_not_waited_on_forever():
    from helpers.endpoints import delete_endpoints

    sm, stub = stubbed_sagemaker()
    stub.add_response("describe_endpoint", described("e", "Creating"), {"EndpointName": "e"})
    for _ in range(2):  # the waiter's attempts
        stub.add_response("describe_endpoint", described("e", "Creating"), {"EndpointName": "e"})
    with stub:
        problems = delete_endpoints(sm, ["e"], phases=((0, 2),))
    stub.assert_no_pending_responses()  # no DeleteEndpoint SageMaker would refuse
    assert problems["e"].startswith("still Creating after about") and "billed" in problems["e"]


def test_endpoints_that_can_go_are_deleted_before_one_in_progress_is_waited_for():
    """Every minute an InService endpoint lives is billed: it is not kept waiting behind one that is
    still Creating. One already Deleting (an interrupted clean-up) is only waited for."""
    from helpers.endpoints import delete_endpoints

    sm, stub = stubbed_sagemaker()
    for name, status in (("slow", "Creating"), ("up", "InService"), ("going", "Deleting")):
        stub.add_response("describe_endpoint", described(name, status), {"EndpointName": name})
    stub.add_response("delete_endpoint", {}, {"EndpointName": "up"})  # before any waiting
    stub.add_response("describe_endpoint", described("slow", "InService"), {"EndpointName": "slow"})  # the wait
    stub.add_response("delete_endpoint", {}, {"EndpointName": "slow"})
    for name in ("up", "going", "slow"):
        stub.add_client_error("describe_endpoint", "ValidationException", f'Could not find endpoint "{name}".',
                              expected_params={"EndpointName": name})
    with stub:
        assert delete_endpoints(sm, ["slow", "up", "going"], phases=((0, 5),),
                                delete_wait={"Delay": 0, "MaxAttempts": 2}) == {}
    stub.assert_no_pending_responses()


def test_an_endpoint_already_gone_is_no_problem():
    from helpers.endpoints import delete_endpoints

    sm, stub = stubbed_sagemaker()
    stub.add_client_error("describe_endpoint", "ValidationException", 'Could not find endpoint "e".')
    with stub:
        assert delete_endpoints(sm, ["e"]) == {}

"""The notebook-side Neo helpers: waiting for several jobs with one display, reading which compiler built an artifact."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from helpers import neo


class FakeSageMaker:
    """describe_compilation_job answering from scripted status sequences; counts the calls."""

    def __init__(self, scripts: dict[str, list[str]]) -> None:
        self.scripts, self.calls = scripts, []

    def describe_compilation_job(self, CompilationJobName: str) -> dict:  # noqa: N803 - boto3's spelling
        self.calls.append(CompilationJobName)
        script = self.scripts[CompilationJobName]
        status = script.pop(0) if len(script) > 1 else script[0]
        return {"CompilationJobName": CompilationJobName, "CompilationJobStatus": status}


def test_waits_for_every_job_and_stops_describing_finished_ones():
    sm = FakeSageMaker({"a": ["INPROGRESS", "COMPLETED"], "b": ["INPROGRESS", "INPROGRESS", "FAILED"], "c": ["COMPLETED"]})
    jobs = neo.wait_for_compilations(sm, ["a", "b", "c"], poll_s=0)
    assert list(jobs) == ["a", "b", "c"]
    assert [j["CompilationJobStatus"] for j in jobs.values()] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert sm.calls.count("c") == 1 and sm.calls.count("a") == 2 and sm.calls.count("b") == 3


def test_no_jobs_no_wait():
    assert neo.wait_for_compilations(FakeSageMaker({}), [], timeout_s=0) == {}


def test_a_timeout_names_the_jobs_still_running():
    sm = FakeSageMaker({"slow": ["INPROGRESS"], "quick": ["COMPLETED"]})
    with pytest.raises(TimeoutError, match="slow still running.*stop_compilation_job"):
        neo.wait_for_compilations(sm, ["slow", "quick"], poll_s=0, timeout_s=0)


def test_job_target_and_compile_seconds():
    start = dt.datetime(2026, 1, 1, 12, 0, 0)
    job = {"OutputConfig": {"TargetPlatform": {"Os": "LINUX", "Arch": "ARM64", "Accelerator": "NVIDIA"}},
           "CompilationStartTime": start, "CompilationEndTime": start + dt.timedelta(seconds=4.26)}
    assert neo.job_target(job) == "LINUX_ARM64_NVIDIA" and neo.compile_seconds(job) == 4.3
    assert neo.job_target({"OutputConfig": {"TargetDevice": "ml_c5"}}) == "ml_c5"
    assert neo.compile_seconds({"CompilationStartTime": start}) is None


@pytest.mark.parametrize(("files", "compiler"), [
    ({"compiled.meta": json.dumps({"compiler": "openvino", "compiler_version": "2026.4"}), "compiled.xml": ""}, "openvino 2026.4"),
    ({"compiled_model.json": json.dumps({"nodes": [{"op": "tvm_op", "attrs": {"func_name": "tvmgen_default_fused_nn_conv2d"}}]}),
      "compiled.params": "", "compiled.so": ""}, "TVM"),
    ({"compiled_model.json": json.dumps({"nodes": [{"op": "tvm_op", "attrs": {"func_name": "tvmgen_default_tensorrt_main_0"}}]}),
      "compiled.params": "", "compiled.so": "", "compiled.meta": "{}"}, "TVM + TensorRT"),
    ({"compiled.so": "", "compiled.meta": "not json"}, "Treelite"),
    ({"compiled.pt": "", "sample_input.pkl": ""}, "Neo for PyTorch (TorchScript; no compiler recorded)"),
    ({"README": ""}, "not recorded"),
])
def test_artifact_compiler_reads_what_the_artifact_records(tmp_path, files, compiler):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert neo.artifact_compiler(tmp_path) == compiler


def test_finished_jobs_are_found_by_prefix_and_suffix_from_any_run():
    """What 02's clean-up cells delete: the failed and exercise jobs of this run or an earlier one,
    only once finished (DeleteCompilationJob refuses a running job), never the compiled model's."""
    import boto3
    from botocore.stub import Stubber

    sm = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    def job(name: str, status: str) -> dict:
        return {"CompilationJobName": name, "CompilationJobArn": f"arn:aws:sagemaker:us-east-1:1:compilation-job/{name}",
                "CreationTime": 0, "CompilationTargetDevice": "ml_c5", "CompilationJobStatus": status}

    stub = Stubber(sm)
    stub.add_response("list_compilation_jobs", {"CompilationJobSummaries": [
        job("neo-workshop-20261127-101500-ab12", "COMPLETED"),  # the compiled model: kept
        job("neo-workshop-20261127-101500-ab12-nhwc", "FAILED"),
        job("neo-workshop-20261126-090000-cd34-nhwc", "FAILED"),  # an earlier run's
        job("neo-workshop-20261127-101500-ab12-exercise-fixed", "INPROGRESS"),  # not deletable yet
        job("someone-neo-workshop-x-nhwc", "FAILED"),  # contains the prefix, does not start with it
    ]}, {"NameContains": "neo-workshop"})
    with stub:
        assert neo.finished_jobs(sm, "neo-workshop", ("-nhwc", "-exercise-fixed")) == [
            "neo-workshop-20261126-090000-cd34-nhwc", "neo-workshop-20261127-101500-ab12-nhwc"]

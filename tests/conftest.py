"""Shared fixtures: one traced model and one model.tar.gz per test session (tracing takes ~2 s)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def model_and_spec():
    """The default model (EfficientNet-Lite0, real weights) and its preprocessing spec."""
    from helpers.models import load_model

    return load_model()


@pytest.fixture(scope="session")
def traced_model_file(model_and_spec, tmp_path_factory) -> Path:
    """A TorchScript `model.pth` of the default model, traced at batch 1."""
    import torch

    from helpers.tracing import trace_model

    model, spec = model_and_spec
    path = tmp_path_factory.mktemp("traced") / "model.pth"
    trace_model(model, torch.zeros(spec.input_shape), path)
    return path


@pytest.fixture(scope="session")
def model_archive(traced_model_file, model_and_spec, tmp_path_factory) -> Path:
    """model.tar.gz laid out the way Neo and SageMaker hosting expect."""
    from helpers.packaging import build_model_archive

    _, spec = model_and_spec
    return build_model_archive(traced_model_file, spec, tmp_path_factory.mktemp("archive") / "model.tar.gz")


@pytest.fixture(scope="session")
def assert_npy_says_cat(model_archive):
    """Check an `application/x-npy` answer for the cat photo: one probability row, summing to 1, top-1 a cat."""
    import io

    import numpy as np

    from helpers.packaging import read_archive_config

    labels = read_archive_config(model_archive)["labels"]

    def check(body: bytes) -> None:
        probabilities = np.load(io.BytesIO(body))
        assert probabilities.shape == (1, len(labels))
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)
        top1 = labels[int(probabilities.argmax())]
        assert "cat" in top1 or top1 == "tabby", top1

    return check


@pytest.fixture(scope="session")
def local_backend(tmp_path_factory) -> Iterator[object]:
    """One local AWS backend for the whole test session, stopped (and checked gone) at the end.

    Yields the RunInfo; `helpers.aws.connect` is not used here so tests stay independent of the
    notebooks' set-up code.
    """
    from helpers.local import control

    work = tmp_path_factory.mktemp("local-backend-work")
    info = control.start(work)
    try:
        yield info
    finally:
        control.stop(work)


@pytest.fixture
def mock_aws_server(tmp_path, monkeypatch) -> Iterator[object]:
    """The local backend as its services see it (a RunInfo), but with boto3 clients served by
    moto's `mock_aws` in this process: for service tests that need no backend process."""
    from moto import mock_aws

    from helpers.local.run_file import RunInfo
    from helpers.local_names import dummy_credential_env

    class MockedServer(RunInfo):
        def boto3_client(self, service: str) -> object:
            import boto3

            return boto3.session.Session(region_name=self.region).client(service)

    for key, value in dummy_credential_env().items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield MockedServer(pid=0, endpoint_url="", runtime_url="", work_dir=str(tmp_path))

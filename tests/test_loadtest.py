"""The load test (issue 10, "Done when"): 1, 4 and 8 concurrent clients, bounded, loopback only,
zero errors; it leaves no endpoint behind. Speed is printed, never asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import aws, loadtest

pytestmark = pytest.mark.slow


def test_load_test_serves_every_level_without_errors(local_backend, model_archive, monkeypatch):
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ACCESS_KEY_ID",
                     "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION", "NEO_WORKSHOP_WORK_DIR"):
        monkeypatch.setenv(variable, "x")  # connect() routes this process: the originals come back afterwards
        monkeypatch.delenv(variable)  # (and the session's backend is used, not make test's nbval work dir)
    work = Path(local_backend.work_dir)
    levels = loadtest.run(work, [1, 4, 8], requests=24, max_seconds=60, archive=model_archive)
    sm = aws.connect("local", work).client("sagemaker")
    assert [level.clients for level in levels] == [1, 4, 8]
    for level in levels:
        assert level.errors == [], level.errors[:3]
        assert len(level.latencies_ms) == 24
        print(level.row())  # the figures, for whoever reads the test log
    assert not [e for e in sm.list_endpoints()["Endpoints"] if e["EndpointName"] == loadtest.ENDPOINT]


def test_load_test_only_runs_locally(monkeypatch):
    monkeypatch.setenv(aws.BACKEND_ENV, "aws")
    monkeypatch.setattr(aws, "_connect_aws", lambda work: aws.Backend("aws", None, "r", "a", "role", "b", work))
    with pytest.raises(RuntimeError, match="only on the local backend"):
        loadtest.run(None, [1], 1, 1)

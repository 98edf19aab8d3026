"""The load test (issue 10, "Done when"): 1, 4 and 8 concurrent clients, bounded, loopback only,
zero errors; it leaves no endpoint behind. Speed is printed, never asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import aws, loadtest


@pytest.mark.slow
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


@pytest.mark.parametrize("typed", [["--clients", "1", "4", "--requests", "3"], ["--", "--clients", "1", "4", "--requests", "3"]])
def test_loadtest_command_passes_its_options_through(typed, monkeypatch, capsys):
    """`python -m helpers loadtest --clients 1 4 --requests 3` reaches the load test's own parser
    (the sub-command parses its options itself; a stray "--" from the dispatcher must not reach it)."""
    from helpers import cli

    seen = {}

    def fake_run(work_dir, levels, requests, max_seconds, archive=None):
        seen.update(levels=levels, requests=requests, max_seconds=max_seconds)
        return []

    monkeypatch.setattr(loadtest, "run", fake_run)
    assert cli.main(["loadtest", *typed]) == 0
    assert seen == {"levels": [1, 4], "requests": 3, "max_seconds": 60}


def test_loadtest_and_bench_commands_answer_help(capsys):
    from helpers import cli

    for command in ("loadtest", "bench"):
        with pytest.raises(SystemExit) as done:
            cli.main([command, "--help"])
        assert done.value.code == 0
        assert f"python -m helpers {command}" in capsys.readouterr().out

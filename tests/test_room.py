"""report.json (helpers/run_record.py) and the room page (helpers/room.py), from generated reports."""

from __future__ import annotations

import json

import pytest

from helpers import cli, room, run_record
from helpers.report import NotebookRun

LESSONS = ["01_trace.ipynb", "02_compile.ipynb", "03_deploy_endpoint.ipynb"]
ERROR = "ClientError: An error occurred (ResourceLimitExceeded) when calling the CreateEndpoint operation"


def runs(states: list[str], failure: str | None = None) -> list[NotebookRun]:
    return [NotebookRun(name, name, state, 60.0 if state != "not run" else None,
                        failure if state == "failed" else None) for name, state in zip(LESSONS, states, strict=True)]


def write(tmp_path, who: str, states: list[str], monkeypatch, failure: str | None = None):
    monkeypatch.setenv("NEO_WORKSHOP_ATTENDEE", who)
    work = tmp_path / who
    work.mkdir()
    return run_record.write_record(work, runs(states, failure))


def test_report_json_names_the_attendee_and_where_it_stopped(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(run_record.ROOM_ENV, "s3://room-bucket/event-1/")
    path = write(tmp_path, "ana", ["ran", "failed", "not run"], monkeypatch, f"cell 7: {ERROR}")
    data = json.loads(path.read_text())
    assert data["attendee"] == "ana" and path.name == "report.json"
    assert data["notebooks"][1] == {"name": "02_compile.ipynb", "title": "02_compile.ipynb", "status": "failed",
                                    "cell": 7, "error": ERROR, "seconds": 60.0}
    assert data["notebooks"][2]["status"] == "not run" and data["notebooks"][2]["seconds"] is None
    assert f"aws s3 cp {path} s3://room-bucket/event-1/ana.json" in capsys.readouterr().out


def test_attendee_defaults_to_user_at_host(monkeypatch):
    from helpers.tags import attendee

    monkeypatch.delenv("NEO_WORKSHOP_ATTENDEE", raising=False)
    assert "@" in attendee()


def test_room_page_has_a_row_per_attendee_and_the_most_common_error(tmp_path, monkeypatch):
    write(tmp_path, "ana", ["ran", "ran", "ran"], monkeypatch)
    write(tmp_path, "bo", ["ran", "ran", "failed"], monkeypatch, f"cell 6: {ERROR}")
    write(tmp_path, "cy", ["ran", "ran", "failed"], monkeypatch, f"cell 6: {ERROR}")
    write(tmp_path, "di", ["ran", "incomplete", "not run"], monkeypatch)
    (tmp_path / "notes.json").write_text('{"not": "a report"}')
    output = tmp_path / "room.html"

    assert cli.main(["room", str(tmp_path), "--output", str(output)]) == 0
    text = output.read_text()
    assert all(f"<th>{who}</th>" in text for who in ("ana", "bo", "cy", "di"))
    assert "<b>2×</b> 03_deploy_endpoint.ipynb: ClientError" in text
    assert "03_deploy_endpoint.ipynb, cell 6 (failed)" in text and "02_compile.ipynb (incomplete)" in text
    assert text.count("<tr>") == 5  # heading + 4 attendees: notes.json is no report
    records = room.read_records([str(tmp_path)])
    assert [room.stuck_at(r) for r in records][0] == "finished"


def test_room_keeps_the_newest_report_of_an_attendee_and_refuses_a_missing_path(tmp_path):
    for stamp, status in (("2026-12-02T10:00:00Z", "failed"), ("2026-12-02T11:00:00Z", "ran")):
        (tmp_path / f"{stamp[11:13]}.json").write_text(json.dumps({"attendee": "ana", "written_at": stamp, "notebooks": [
            {"name": "01_trace.ipynb", "status": status, "cell": None, "error": None, "seconds": 1}]}))
    [only] = room.read_records([str(tmp_path)])
    assert only["notebooks"][0]["status"] == "ran"
    with pytest.raises(FileNotFoundError, match="no such file"):
        room.read_records([str(tmp_path / "missing")])


def test_room_reads_an_s3_prefix(tmp_path, monkeypatch):
    import boto3
    from moto import mock_aws

    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    path = write(tmp_path, "ana", ["ran", "failed", "not run"], monkeypatch, f"cell 3: {ERROR}")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="room")
        s3.upload_file(str(path), "room", "event/ana.json")
        [record] = room.read_records(["s3://room/event/"])
    assert record["attendee"] == "ana" and record["source"] == "s3://room/event/ana.json"

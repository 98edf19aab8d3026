"""`work/report.json`: the machine-readable twin of report.html, one per attendee, for `python -m helpers room`.

Per notebook: its status (ran, failed, incomplete, not run), the cell it stopped at and that cell's
error, and how long it ran. It names its attendee ($NEO_WORKSHOP_ATTENDEE, else user@host), so a
facilitator can gather a room's files in one directory or one S3 prefix and see who is stuck where.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from helpers.tags import attendee

RECORD_NAME = "report.json"
ROOM_ENV = "NEO_WORKSHOP_ROOM"  # an S3 prefix the facilitator gives the room: s3://bucket/prefix/
SCHEMA = 1
_FAILURE = re.compile(r"cell (\d+): (.*)", re.DOTALL)


def notebook_entry(run: Any) -> dict[str, Any]:
    """One notebook's line of the record, from a report.NotebookRun."""
    cell, error = None, run.failure
    match = _FAILURE.fullmatch(run.failure or "")
    if match:
        cell, error = int(match.group(1)), match.group(2)
    return {"name": run.name, "title": run.title, "status": run.state, "cell": cell, "error": error,
            "seconds": None if run.seconds is None else round(run.seconds, 1)}


def record(runs: list[Any], who: str | None = None) -> dict[str, Any]:
    """The whole record: who, when, and one entry per notebook in lesson order."""
    return {"schema": SCHEMA, "attendee": who or attendee(), "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "notebooks": [notebook_entry(run) for run in runs]}


def upload_command(path: Path, who: str) -> str:
    """The one command that hands this record to the room's S3 prefix ($NEO_WORKSHOP_ROOM), or ''."""
    room = os.environ.get(ROOM_ENV, "").strip()
    if not room:
        return ""
    safe = re.sub(r"[^\w.@-]", "_", who)
    return f"aws s3 cp {path} {room.rstrip('/')}/{safe}.json"


def write_record(work: Path, runs: list[Any]) -> Path:
    """Write `<work>/report.json`; print the upload command when the room has a prefix."""
    data = record(runs)
    path = work / RECORD_NAME
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    command = upload_command(path, data["attendee"])
    if command:
        print(f"Share your progress with the room: {command}")
    return path

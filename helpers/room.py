"""`python -m helpers room DIR|s3://bucket/prefix/ ...`: one HTML page of a whole room's progress.

It reads every attendee's `work/report.json` (helpers/run_record.py) from local paths or an S3
prefix the attendees uploaded to, and writes one self-contained page: a row per attendee, a
column per notebook, where each attendee is stuck, and the most common error, which is usually
the one worth saying to the whole room.
"""

from __future__ import annotations

import html
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:14px}
.ran{background:#e6f4ea}.failed{background:#fde8e8}.incomplete{background:#fff4d6}.notrun{color:#888}"""
MARKS = {"ran": "✓", "failed": "✗", "incomplete": "…", "not run": "–"}


def _records_in(text: str, where: str, found: list[dict[str, Any]]) -> None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        print(f"  skipped {where}: not JSON")
        return
    if isinstance(data, dict) and isinstance(data.get("notebooks"), list):
        found.append({**data, "source": where})


def _from_s3(uri: str, found: list[dict[str, Any]]) -> None:
    import boto3

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".json"):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8", "replace")
                _records_in(body, f"s3://{bucket}/{item['Key']}", found)


def read_records(sources: list[str]) -> list[dict[str, Any]]:
    """Every report.json under `sources`; one per attendee (the newest `written_at` wins)."""
    found: list[dict[str, Any]] = []
    for source in sources:
        if source.startswith("s3://"):
            _from_s3(source, found)
            continue
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{source}: no such file or directory (give directories, report.json files or s3://bucket/prefix/)")
        for file in [path] if path.is_file() else sorted(path.rglob("*.json")):
            _records_in(file.read_text(encoding="utf-8", errors="replace"), str(file), found)
    newest: dict[str, dict[str, Any]] = {}
    for item in found:
        who = str(item.get("attendee") or item["source"])
        if who not in newest or str(item.get("written_at", "")) >= str(newest[who].get("written_at", "")):
            newest[who] = item
    return [newest[who] for who in sorted(newest, key=str.lower)]


def stuck_at(item: dict[str, Any]) -> str:
    """Where this attendee is: the first notebook that did not run to the end, and its cell."""
    for nb in item["notebooks"]:
        if nb.get("status") != "ran":
            cell = f", cell {nb['cell']}" if nb.get("cell") is not None else ""
            return f"{nb['name']}{cell} ({nb.get('status')})"
    return "finished"


def _short(error: str | None) -> str:
    return (error or "").strip().splitlines()[0][:160] if error and error.strip() else ""


def most_common_errors(records: list[dict[str, Any]], top: int = 3) -> list[tuple[str, int]]:
    """The errors most attendees hit (notebook + first line of the error), most frequent first."""
    counts = Counter(f"{nb['name']}: {_short(nb.get('error'))}" for item in records for nb in item["notebooks"]
                     if nb.get("status") == "failed" and _short(nb.get("error")))
    return counts.most_common(top)


def _cell(nb: dict[str, Any] | None) -> str:
    if nb is None:
        return "<td class='notrun'>–</td>"
    status = nb.get("status", "not run")
    text = MARKS.get(status, "?")
    if nb.get("seconds") is not None:
        text += f" {nb['seconds'] / 60:.1f} min"
    if status == "failed":
        text += f"<br>cell {nb.get('cell')}: {html.escape(_short(nb.get('error')))}"
    return f"<td class='{status.replace(' ', '')}'>{text}</td>"


def page(records: list[dict[str, Any]]) -> str:
    """The room page: summary, most common errors, then the attendee x notebook table."""
    names: list[str] = []
    for item in records:
        names += [nb["name"] for nb in item["notebooks"] if nb["name"] not in names]
    stuck = Counter(stuck_at(item).split(",")[0].split(" (")[0] for item in records)
    errors = most_common_errors(records)
    rows = []
    for item in records:
        by_name = {nb["name"]: nb for nb in item["notebooks"]}
        rows.append(f"<tr><th>{html.escape(str(item.get('attendee')))}</th>"
                    f"<td>{html.escape(stuck_at(item))}</td>" + "".join(_cell(by_name.get(n)) for n in names)
                    + f"<td>{html.escape(str(item.get('written_at', '')))}</td></tr>")
    common = "".join(f"<li><b>{count}×</b> {html.escape(text)}</li>" for text, count in errors) or "<li>none</li>"
    where = ", ".join(f"{html.escape(k)}: {v}" for k, v in stuck.most_common())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>neo-workshop room</title><style>{STYLE}</style></head>"
            f"<body><h1>neo-workshop: the room</h1><p>{len(records)} attendee(s), written "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}. Where they are: {where or 'nobody yet'}.</p>"
            f"<h2>Most common errors</h2><ol>{common}</ol><h2>Attendees</h2><table><tr><th>attendee</th><th>stuck at</th>"
            + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "<th>report written</th></tr>"
            + "".join(rows) + "</table></body></html>")


def main(sources: list[str], output: Path) -> int:
    """Write the room page from `sources`; say how many reports it read."""
    records = read_records(sources)
    if not records:
        print(f"No report.json found in {', '.join(sources)}: attendees write one with `python -m helpers run`.")
        return 1
    output.write_text(page(records), encoding="utf-8")
    print(f"{output}: {len(records)} attendee(s); most common error: "
          f"{(most_common_errors(records) or [('none', 0)])[0][0]}")
    return 0

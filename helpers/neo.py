"""Client-side helpers for Neo compilation jobs: the waiting and the reading (pre-flight: helpers.preflight).

The boto3 calls that teach (`create_compilation_job`, `describe_compilation_job`) stay in the
notebooks. There is no boto3 waiter for compilation jobs, so `wait_for_compilation` polls with a
progress bar instead.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

TERMINAL = ("COMPLETED", "FAILED", "STOPPED")


def wait_for_compilation(sm: Any, job_name: str, *, poll_s: float = 2.0, timeout_s: float = 1800) -> dict[str, Any]:
    """Poll `describe_compilation_job` until a terminal status, showing status and elapsed time.

    Returns the last description whatever the outcome; the notebook decides what a FAILED means.
    """
    from tqdm import tqdm

    started = time.monotonic()
    with tqdm(total=None, bar_format="{desc}", desc=f"{job_name}: starting") as bar:
        while True:
            job = sm.describe_compilation_job(CompilationJobName=job_name)
            status = job["CompilationJobStatus"]
            elapsed = time.monotonic() - started
            bar.set_description_str(f"{job_name}: {status} ({elapsed:4.0f} s)")
            if status in TERMINAL:
                return job
            if elapsed > timeout_s:
                raise TimeoutError(f"{job_name} still {status} after {timeout_s:.0f} s: stop it with stop_compilation_job.")
            time.sleep(poll_s)


def failure_summary(job: dict[str, Any]) -> str:
    """One readable line for a finished job: its status and, if any, Neo's FailureReason."""
    reason = job.get("FailureReason") or ""
    return f"{job['CompilationJobName']}: {job['CompilationJobStatus']}" + (f" - {reason}" if reason else "")


def read_meta(model_dir: Path) -> dict[str, Any]:
    """`compiled.meta` of an extracted artifact (JSON), or a clear error when it is missing."""
    path = model_dir / "compiled.meta"
    if not path.exists():
        found = sorted(p.name for p in model_dir.iterdir()) if model_dir.exists() else []
        raise FileNotFoundError(f"No compiled.meta in {model_dir} (found {found}): is this a Neo output archive?")
    return json.loads(path.read_text())


def meta_rows(meta: dict[str, Any]) -> list[dict[str, str]]:
    """compiled.meta flattened into (field, value) rows for a table."""
    return [{"field": key, "value": json.dumps(value) if isinstance(value, dict | list) else str(value)}
            for key, value in meta.items()]

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

from helpers.polling import wait_until
from helpers.sagemaker_facts import COMPILATION_TERMINAL_STATUSES


def wait_for_compilation(sm: Any, job_name: str, *, poll_s: float = 2.0, timeout_s: float = 1800) -> dict[str, Any]:
    """Poll `describe_compilation_job` until a terminal status, showing status and elapsed time.

    Returns the last description whatever the outcome; the notebook decides what a FAILED means.
    """
    from tqdm import tqdm

    started, seen = time.monotonic(), ["starting"]
    with tqdm(total=None, bar_format="{desc}", desc=f"{job_name}: starting") as bar:
        def finished() -> dict[str, Any] | None:
            job = sm.describe_compilation_job(CompilationJobName=job_name)
            seen.append(job["CompilationJobStatus"])
            bar.set_description_str(f"{job_name}: {seen[-1]} ({time.monotonic() - started:4.0f} s)")
            return job if seen[-1] in COMPILATION_TERMINAL_STATUSES else None

        return wait_until(finished, timeout_s=timeout_s, interval_s=poll_s, timeout_message=lambda: (
            f"{job_name} still {seen[-1]} after {timeout_s:.0f} s: stop it with stop_compilation_job."))


def failure_summary(job: dict[str, Any]) -> str:
    """One readable line for a finished job: its status and, if any, Neo's FailureReason."""
    reason = job.get("FailureReason") or ""
    return f"{job['CompilationJobName']}: {job['CompilationJobStatus']}" + (f" - {reason}" if reason else "")


def read_meta(model_dir: Path) -> dict[str, Any] | None:
    """`compiled.meta` of an extracted artifact (JSON), or None when the artifact has none.

    The local Neo always writes one; real Neo writes one into DLR model directories, but its
    PyTorch artifacts for ml_* instances (TorchScript + sample_input.pkl) are not known to carry
    one: absence is normal, not an error. A directory that does not exist is one.
    """
    if not model_dir.is_dir():
        raise FileNotFoundError(f"No artifact directory at {model_dir}: extract the compiled model.tar.gz first.")
    path = model_dir / "compiled.meta"
    return json.loads(path.read_text()) if path.exists() else None


def meta_rows(meta: dict[str, Any] | None) -> list[dict[str, str]]:
    """compiled.meta flattened into (field, value) rows for a table; one explaining row without it."""
    if meta is None:
        return [{"field": "compiled.meta", "value": "not in this artifact (real Neo's PyTorch artifacts for ml_* "
                                                    "instances have none): the file table above shows what it holds"}]
    return [{"field": key, "value": json.dumps(value) if isinstance(value, dict | list) else str(value)}
            for key, value in meta.items()]

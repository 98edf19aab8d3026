"""Client-side helpers for Neo compilation jobs: the waiting and the reading (pre-flight: helpers.preflight).

The boto3 calls that teach (`create_compilation_job`, `describe_compilation_job`) stay in the
notebooks. There is no boto3 waiter for compilation jobs, so `wait_for_compilation` polls with a
progress bar instead.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from helpers.polling import wait_until
from helpers.sagemaker_facts import (
    COMPILATION_TERMINAL_STATUSES,
    ENTITY_NAME,
    MAX_NAME_CHARS,
    name_violations,
)

SUFFIX_RESERVE = 16  # room for what the notebooks append to a job name ("-exercise-wrong")


def unique_name(prefix: str, reserve: int = SUFFIX_RESERVE) -> str:
    """`<prefix>-<YYYYmmdd-HHMMSS>-<4 random hex>`: a compilation job name no other run takes.

    Compilation job names are unique per account and region, forever (a finished job keeps its
    name until deleted), and two runs started in the same second would otherwise collide. The
    result satisfies SageMaker's EntityName pattern with `reserve` characters to spare for
    suffixes, or this raises ValueError naming the constraint.
    """
    name = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    problems = name_violations(name, "compilationJobName", ENTITY_NAME)
    if problems or len(name) + reserve > MAX_NAME_CHARS:
        raise ValueError(f"{name!r} cannot be a compilation job name with {reserve} characters to spare: "
                         f"{'; '.join(problems) or f'longer than {MAX_NAME_CHARS - reserve}'}. Use a shorter prefix "
                         "(letters, digits, hyphens).")
    return name


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

"""Client-side helpers for Neo compilation jobs: the waiting, the pre-flight checks, the reading.

The boto3 calls that teach (`create_compilation_job`, `describe_compilation_job`) stay in the
notebooks. There is no boto3 waiter for compilation jobs, so `wait_for_compilation` polls with a
progress bar instead.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from helpers.packaging import read_archive_config
from helpers.polling import wait_until
from helpers.sagemaker_facts import COMPILATION_TERMINAL_STATUSES, NEO_PYTORCH_VERSIONS


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2])


def check_framework_version(archive: Path, framework_version: str, backend_name: str) -> str:
    """Stop before submitting a model real Neo would reject; return a one-line verdict.

    Real Neo reads PyTorch models traced with torch <= 2.0 (FrameworkVersion 1.4 ... 2.0), and
    the traced torch must not be newer than FrameworkVersion. The local Neo (OpenVINO) reads any
    TorchScript, so there the mismatch is only reported.
    """
    if framework_version not in NEO_PYTORCH_VERSIONS:
        raise ValueError(f"FrameworkVersion {framework_version!r} is not one Neo accepts for PyTorch: {', '.join(NEO_PYTORCH_VERSIONS)}.")
    traced = read_archive_config(archive).get("traced_with_torch", "unknown")
    newer = traced != "unknown" and _version_tuple(traced) > _version_tuple(framework_version)
    if newer and backend_name == "aws":
        raise RuntimeError(
            f"This model was traced with torch {traced}, but real Neo compiles PyTorch models traced "
            f"with torch <= 2.0 (you asked for FrameworkVersion {framework_version}). Trace it again in "
            f"an environment with torch=={framework_version}.* (e.g. `conda create -n neo python=3.10 "
            f"pytorch=={framework_version} torchvision -c pytorch`, then run notebook 01 there), or use "
            "BACKEND = 'local'."
        )
    if newer:
        return (f"traced with torch {traced} > FrameworkVersion {framework_version}: real Neo would refuse "
                "this model; the local Neo (OpenVINO) reads it anyway.")
    return f"traced with torch {traced}: fits FrameworkVersion {framework_version}."


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

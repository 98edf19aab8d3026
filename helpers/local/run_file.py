"""What one running local backend is, and the file that says so.

`RunInfo` describes a backend: its pid, the moto URL (S3, IAM, SageMaker), the runtime gateway's
URL, region, account and work directory. The server builds it before it serves anything and
hands it to its services (they reach local S3 with `boto3_client`, and keep their files under
`state_dir`); once both ports answer, it writes it to the *run file*
`<work_dir>/local-aws/server.json`, which is how `control` (and through it every notebook
kernel, the CLI and the tests) finds the same server.

The services reach S3 the way a user's code does, through boto3 against the server's own URL,
instead of reaching into moto's S3 internals: one less private API to track across moto
upgrades, and every object they read or write is one `aws s3 ls` can show.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from helpers.local_names import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DUMMY_CREDENTIALS,
    STATE_DIR_NAME,
)

RUN_FILE = "server.json"
LOG_FILE = "server.log"


@dataclass
class RunInfo:
    """One running backend, as recorded in its run file and as its services see it."""

    pid: int
    endpoint_url: str
    runtime_url: str
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    work_dir: str = ""
    started_at: str = ""
    fidelity: str = "local"  # local_names.FIDELITIES: "aws" makes the outputs take real AWS's shapes

    @property
    def aws_fidelity(self) -> bool:
        return self.fidelity == "aws"

    @property
    def state_dir(self) -> Path:
        """`<work_dir>/local-aws`: the run file, the logs and each service's files."""
        return state_dir(Path(self.work_dir))

    def boto3_client(self, service: str) -> Any:
        """A boto3 client for `service` pointed at this backend.

        A fresh Session per call because boto3's default session is not thread-safe, and the
        services create clients from request threads and job threads at the same time.
        """
        import boto3

        session = boto3.session.Session(region_name=self.region, **DUMMY_CREDENTIALS)
        return session.client(service, endpoint_url=self.endpoint_url)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunInfo:
        return cls(**json.loads(text))


def state_dir(work_dir: Path) -> Path:
    return Path(work_dir).resolve() / STATE_DIR_NAME


def run_file(work_dir: Path) -> Path:
    return state_dir(work_dir) / RUN_FILE


def log_file(work_dir: Path) -> Path:
    return state_dir(work_dir) / LOG_FILE


def read_run_file(work_dir: Path) -> RunInfo | None:
    """The recorded run, or None when there is none or it is unreadable (a crash mid-write)."""
    try:
        return RunInfo.from_json(run_file(work_dir).read_text())
    except (OSError, ValueError, TypeError):
        return None


def write_run_file(info: RunInfo) -> None:
    """Write the run file atomically: readers see the old file, no file, or the whole new one."""
    path = run_file(Path(info.work_dir))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(info.to_json())
    tmp.replace(path)

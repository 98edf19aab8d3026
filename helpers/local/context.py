"""What every hook of the local backend needs to know about the server it runs in.

The hooks (the local Neo, local hosting) run inside the backend process, next to moto. They
reach local S3 the way a user's code does, through boto3 against this server's own URL with
dummy credentials, instead of reaching into moto's S3 internals: one less private API to track
across moto upgrades, and every object they read or write is one `aws s3 ls` can show.

It also holds the two small utilities every process of the local backend uses: picking a free
loopback port and reading the end of a log.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.local_names import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DUMMY_CREDENTIALS,
    HOST,
    STATE_DIR_NAME,
)


@dataclass(frozen=True)
class LocalContext:
    """The running backend as its hooks see it: where to write, and how to reach moto."""

    work_dir: Path
    endpoint_url: str
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID

    @property
    def state_dir(self) -> Path:
        """`<work_dir>/local-aws`: the run file, the log and each hook's scratch space."""
        return self.work_dir / STATE_DIR_NAME

    def boto3_client(self, service: str) -> Any:
        """A boto3 client for `service` pointed at this server.

        A fresh Session per call because boto3's default session is not thread-safe, and
        hooks create clients from request threads and job threads at the same time.
        """
        import boto3

        session = boto3.session.Session(region_name=self.region, **DUMMY_CREDENTIALS)
        return session.client(service, endpoint_url=self.endpoint_url)


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it; tiny race until the server binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file ('' if it does not exist yet)."""
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64 * 1024))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:])

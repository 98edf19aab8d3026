"""Who is running the workshop, and the tags every SageMaker resource it creates carries.

`workshop_tags()` is what notebooks 03 and 05 (and `endpoints.deploy`) pass as `Tags=`:
`project=neo-workshop` (what `python -m helpers cleanup` finds), `neo-workshop:created-by` (the
attendee) and `neo-workshop:expires-at` (now + 3 hours, or $NEO_WORKSHOP_EXPIRY_HOURS), which the
attendee account's scheduled cleaner (helpers/expiry_cleaner.py) acts on.
"""

from __future__ import annotations

import getpass
import os
import re
import socket

from helpers.expiry_cleaner import CREATED_BY, EXPIRES_AT, expiry_tags

ATTENDEE_ENV = "NEO_WORKSHOP_ATTENDEE"
PROJECT_TAG = {"Key": "project", "Value": "neo-workshop"}
__all__ = ["ATTENDEE_ENV", "CREATED_BY", "EXPIRES_AT", "attendee", "workshop_tags"]
# A SageMaker tag value: up to 256 of letters, digits, spaces and _.:/=+-@
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Tag.html
_NOT_IN_TAG_VALUE = re.compile(r"[^\w .:/=+\-@]")


def attendee() -> str:
    """$NEO_WORKSHOP_ATTENDEE, else `user@host`: the name the report and the tags give this run."""
    name = os.environ.get(ATTENDEE_ENV, "").strip()
    if not name:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (some containers)
            user = "unknown"
        name = f"{user}@{socket.gethostname()}"
    return _NOT_IN_TAG_VALUE.sub("_", name)[:256]


def workshop_tags(hours: float | None = None) -> list[dict[str, str]]:
    """`[project, created-by, expires-at]` for a Create* call's `Tags=` (expiry: `hours` from now, default 3)."""
    return [dict(PROJECT_TAG), *expiry_tags(attendee(), hours)]

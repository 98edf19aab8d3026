"""One way to wait for something that has no event to wait on: ask again until done or too late.

Compilation jobs, endpoints, servers starting up: none of them can tell us when they are ready,
so every wait in the workshop is "check, sleep, check again, give up at a deadline". This module
is that loop, written once. A leaf: both sides (the notebooks' helpers and the local backend)
use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout_s: float, interval_s: float,
               timeout_message: str | Callable[[], str] = "") -> T:
    """Call `check` every `interval_s` seconds until it returns something truthy, and return that.

    `check` runs at least once, and once more after the deadline (so a slow machine never fails a
    wait that just succeeded). It may raise to give up early (a process that exited, a failed
    job). After `timeout_s`, raises TimeoutError with `timeout_message` (a callable is asked only
    then, so it can describe the state at that moment).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        late = time.monotonic() >= deadline
        if result := check():
            return result
        if late:
            message = timeout_message() if callable(timeout_message) else timeout_message
            raise TimeoutError(message or f"still waiting after {timeout_s:.0f} s")
        time.sleep(interval_s)

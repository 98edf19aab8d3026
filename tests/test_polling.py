"""helpers.polling.wait_until: the one wait-until-deadline loop every wait in the workshop uses."""

from __future__ import annotations

import pytest

from helpers.polling import wait_until


def test_returns_the_first_truthy_answer():
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), timeout_s=60, interval_s=0) == "ready"


def test_checks_once_more_at_the_deadline_then_says_why():
    calls: list[int] = []
    with pytest.raises(TimeoutError, match="job-1 still INPROGRESS"):
        wait_until(lambda: calls.append(1), timeout_s=0, interval_s=0,
                   timeout_message=lambda: f"job-1 still INPROGRESS after {len(calls)} checks")
    assert len(calls) == 1  # deadline already passed: one check, no sleep


def test_a_check_can_give_up_early():
    def check() -> bool:
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="exited"):
        wait_until(check, timeout_s=60, interval_s=0)

"""The exercises' verdict: the learner's prediction beside what the cell measured.

Each exercise's work cell starts with a line the learner fills in (`my_prediction = None  # your
guess: ...`); the solution prints this verdict and still asserts the outcome, so CI (where nothing
is filled in) checks the lesson and an attendee sees their own guess next to the measurement.
"""

from __future__ import annotations

from typing import Any


def verdict(prediction: Any, measured: Any, unit: str = "") -> str:
    """'you predicted X; measured Y', or a reminder when the `my_` line was left empty."""
    shown = f"{measured}{unit}"
    if prediction is None or prediction == "":
        return f"no prediction made (fill in the my_ line of the work cell, then run this again); measured {shown}"
    return f"you predicted {prediction}{unit}; measured {shown}"

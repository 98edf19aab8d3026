"""The exercises' verdict: the learner's prediction beside what the cell measured.

Each exercise's work cell starts with a line the learner fills in (`my_prediction = None  # your
guess: ...`); the solution prints this verdict and still asserts the outcome, so CI (where nothing
is filled in) checks the lesson and an attendee sees their own guess next to the measurement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def verdict(prediction: Any, measured: Any, unit: str = "") -> str:
    """'you predicted X; measured Y', or a reminder when the `my_` line was left empty."""
    if prediction is None or prediction == "":
        # The measurement is not shown: JupyterLab reveals a collapsed output when *Run All* runs the
        # cell, and the learner should guess before reading it. The cell's asserts still check it.
        return "no prediction made: fill in the my_ line of the work cell above, run it, then run this cell again"
    return f"you predicted {prediction}{unit}; measured {measured}{unit}"


def edition_language(folder: Path | None = None) -> str:
    """The language of the edition this lesson runs in: the folder's name in notebooks/ko/, else "en".

    Every edition runs the same code, so a cell cannot know its language from its own text.
    JupyterLab, nbclient (`python -m helpers run`) and nbval all start a notebook's kernel in the
    notebook's folder, and a translated edition's folder is named for its language and holds its
    `translations/` (notebooks/ko/translations/): that is what this reads.
    """
    folder = Path.cwd() if folder is None else Path(folder)
    return folder.name if (folder / "translations").is_dir() else "en"

"""The lessons fit a 2-hour slot, and what the title cells and the READMEs say is what is computed.

helpers/lesson_time.py holds the rule (words and code lines read, exercise minutes, measured run
time); these tests keep the written figures true whenever a lesson changes: run
`python -m helpers lesson-time --write` after editing one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import lesson_time

REPO_ROOT = Path(__file__).resolve().parent.parent
ENGLISH = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KOREAN = sorted((REPO_ROOT / "notebooks" / "ko").glob("[0-9][0-9]_*.ipynb"))


def test_the_core_path_fits_the_slot():
    times = lesson_time.workshop_times()
    core = sum(round(t.core.minutes) for t in times)
    assert core <= lesson_time.CORE_BUDGET_MIN, (
        f"the core path takes {core} learner-minutes, over {lesson_time.CORE_BUDGET_MIN}: tag more cells `extension`"
        f" or shorten them ({', '.join(f'{t.name} {t.core.minutes:.0f}' for t in times)})")


@pytest.mark.parametrize("path", ENGLISH + KOREAN, ids=lambda p: str(p.relative_to(REPO_ROOT / "notebooks")))
def test_title_cell_states_the_computed_minutes(path: Path):
    times = {t.name: t for t in lesson_time.workshop_times()}
    title = "".join(json.loads(path.read_text())["cells"][0]["source"])
    expected = times[path.stem].title_line(korean=path.parent.name == "ko")
    assert expected in title, f"{path.name}'s title cell should say {expected!r}: run python -m helpers lesson-time --write"


@pytest.mark.parametrize("readme,prefix", [("README.md", ""), ("README.ko.md", ""), ("docs/INSTRUCTOR.md", "../"),
                                           ("docs/INSTRUCTOR.ko.md", "../")])
def test_readme_schedule_is_the_computed_one(readme: str, prefix: str):
    text = (REPO_ROOT / readme).read_text()
    table = lesson_time.schedule_table(lesson_time.workshop_times(), korean=readme.endswith(".ko.md"), prefix=prefix)
    assert f"<!-- schedule:start -->\n{table}<!-- schedule:end -->" in text, \
        f"{readme}'s schedule is stale: run python -m helpers lesson-time --write"


def test_every_cell_of_the_run_times_exists():
    """run_times.json is keyed by cell id: a renamed or removed cell must not keep its seconds."""
    run_times = lesson_time.load_run_times()
    for path in ENGLISH:
        ids = {cell["id"] for cell in json.loads(path.read_text())["cells"]}
        stale = set(run_times.get(path.stem, {})) - ids
        assert not stale, f"{path.name}: run_times.json has cells {sorted(stale)} that no longer exist: re-record"


def test_the_rule_counts_words_code_lines_and_exercise_minutes(tmp_path: Path):
    cells = [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": " ".join(["word"] * 150)},
        {"cell_type": "code", "id": "b", "metadata": {}, "source": "\n".join(["x = 1"] * 20)},
        {"cell_type": "markdown", "id": "c", "metadata": {"tags": ["exercise"]}, "source": "### Exercise: t (4 min)\ndo it"},
        {"cell_type": "code", "id": "d", "metadata": {"tags": ["solution"]}, "source": "\n".join(["y = 2"] * 40)},
        {"cell_type": "markdown", "id": "e", "metadata": {"tags": ["extension"]}, "source": " ".join(["w"] * 300)},
        {"cell_type": "markdown", "id": "f", "metadata": {"tags": ["extension", "exercise"]},
         "source": "### Exercise: no minutes given"},
    ]
    path = tmp_path / "07_x.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}}))
    time = lesson_time.lesson_time(path, {"07_x": {"b": 60.0, "e": 30.0}})
    assert (time.core.reading, time.core.exercises, time.core.running) == (2.0, 4, 1.0)
    assert (time.extensions.reading, time.extensions.exercises, time.extensions.running) == (2.0, 6, 0.5)
    assert re.fullmatch(r"\*\*Core: 7 min \(4 of them exercises\) · Extensions: 8 min · Runs in 90 s on `local`\*\*",
                        time.title_line())


def test_a_whole_notebook_can_be_an_extension(tmp_path: Path):
    path = tmp_path / "08_x.ipynb"
    path.write_text(json.dumps({"metadata": {"extension": True},
                                "cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# 08 · x"}]}))
    time = lesson_time.lesson_time(path, {})
    assert time.core.minutes == 0 and time.extensions.reading > 0


def test_readme_front_door_is_short():
    words = len((REPO_ROOT / "README.md").read_text().split())
    assert words <= 900, f"README.md has {words} words: the front door stays under 900, the rest goes to docs/"

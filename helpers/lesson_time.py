"""`python -m helpers lesson-time`: how long each lesson takes a learner, core path and extensions.

A workshop slot is learner time, not machine time, so the estimate follows one rule, the same for
every notebook (issue 18; docs/LESSON_STYLE.md):

- markdown is read at 150 words a minute, code at 20 lines a minute;
- an exercise counts its stated minutes (`### Exercise: title (N min)`, 6 when unstated) for all its
  cells: the task, the learner's own work, the solution and the answer behind it;
- plus the cells' own run time on `local`, measured by a headless run and kept in
  notebooks/run_times.json (`--record work/executed` rewrites it from the executed copies).

A cell tagged `extension` (or every cell of a notebook whose metadata says `"extension": true`) is
an extension: a facilitator can skip it, and skipping it breaks no later notebook. Everything else
is the core path, which must fit a 2-hour slot with time for an introduction and questions:
CORE_BUDGET_MIN minutes. `--write` puts the figures into each title cell and the README's schedule;
tests/test_lesson_time.py checks that what is written is what this computes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers.paths import NOTEBOOKS_DIR

CORE_BUDGET_MIN = 90
WORDS_PER_MIN = 150
CODE_LINES_PER_MIN = 20
DEFAULT_EXERCISE_MIN = 6
RUN_TIMES = NOTEBOOKS_DIR / "run_times.json"
# Where the schedule is written: the READMEs and the instructor guides (English, Korean), with the link prefix
# from each file to the repository root.
ROOT = NOTEBOOKS_DIR.parent
SCHEDULES = ((ROOT / "README.md", ""), (ROOT / "README.ko.md", ""),
             (ROOT / "docs" / "INSTRUCTOR.md", "../"), (ROOT / "docs" / "INSTRUCTOR.ko.md", "../"))
EXERCISE_HEADING = re.compile(r"^### Exercise:.*?(?:\((\d+) min\))?\s*$", re.MULTILINE)
TITLE_LINE = re.compile(r"^\*\*Core: .*$|^\*\*핵심: .*$", re.MULTILINE)
SCHEDULE = re.compile(r"(<!-- schedule:start -->\n).*?(<!-- schedule:end -->)", re.DOTALL)
EXERCISE_CELL_TAGS = {"exercise", "exercise-work", "solution", "answer"}


@dataclass
class Part:
    """Minutes of one part (core or extensions) of a lesson, and what they are made of."""

    reading: float = 0.0
    exercises: float = 0.0
    running: float = 0.0

    @property
    def minutes(self) -> float:
        return self.reading + self.exercises + self.running


@dataclass
class LessonTime:
    name: str
    title: str
    core: Part
    extensions: Part
    run_s: float

    def title_line(self, korean: bool = False) -> str:
        core, exercises, extra = (round(self.core.minutes), round(self.core.exercises), round(self.extensions.minutes))
        if korean:
            return f"**핵심: {core}분 (그중 실습 {exercises}분) · 확장: {extra}분 · `local`에서 {self.run_s:.0f}초**"
        return (f"**Core: {core} min ({exercises} of them exercises) · Extensions: {extra} min · "
                f"Runs in {self.run_s:.0f} s on `local`**")


def _source(cell: Any) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_extension(notebook: Any, cell: Any) -> bool:
    return bool(notebook.get("metadata", {}).get("extension")) or "extension" in _tags(cell)


def exercise_minutes(task_source: str) -> int:
    match = EXERCISE_HEADING.search(task_source)
    return int(match.group(1)) if match and match.group(1) else DEFAULT_EXERCISE_MIN


def reading_minutes(cell: Any) -> float:
    text = _source(cell)
    if cell["cell_type"] == "markdown":
        text = re.sub(r"<[^>]+>|!\[[^\]]*\]\([^)]*\)", " ", text)  # tags and pictures are not read as words
        return len(re.findall(r"\w+", text)) / WORDS_PER_MIN
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) / CODE_LINES_PER_MIN


def load_run_times(path: Path = RUN_TIMES) -> dict[str, dict[str, float]]:
    return json.loads(path.read_text()) if path.exists() else {}


def lesson_time(path: Path, run_times: dict[str, dict[str, float]] | None = None) -> LessonTime:
    """The core and extension minutes of one notebook, by the rule in this module's docstring."""
    notebook = json.loads(path.read_text())
    seconds = (run_times if run_times is not None else load_run_times()).get(path.stem, {})
    core, extensions = Part(), Part()
    for cell in notebook["cells"]:
        part = extensions if is_extension(notebook, cell) else core
        tags = set(_tags(cell))
        if "exercise" in tags:
            part.exercises += exercise_minutes(_source(cell))
        elif not tags & EXERCISE_CELL_TAGS and not _is_solution_label(cell):
            part.reading += reading_minutes(cell)
        part.running += seconds.get(cell.get("id", ""), 0.0) / 60
    title = _source(notebook["cells"][0]).splitlines()[0].lstrip("# ").strip()
    return LessonTime(path.stem, title, core, extensions, sum(seconds.values()))


def _is_solution_label(cell: Any) -> bool:
    return cell["cell_type"] == "markdown" and _source(cell).lstrip().startswith("**Solution")


def workshop_times(directory: Path = NOTEBOOKS_DIR) -> list[LessonTime]:
    run_times = load_run_times(directory / "run_times.json")
    return [lesson_time(path, run_times) for path in sorted(directory.glob("[0-9][0-9]_*.ipynb"))]


def record_run_times(executed_dir: Path, path: Path = RUN_TIMES) -> dict[str, dict[str, float]]:
    """Per-cell seconds from executed copies (nbclient's execution timestamps), rounded to 0.1 s."""
    times: dict[str, dict[str, float]] = {}
    for executed in sorted(executed_dir.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(executed.read_text())["cells"]
        times[executed.stem] = {cell["id"]: round(_cell_seconds(cell), 1) for cell in cells
                                if cell["cell_type"] == "code" and _cell_seconds(cell) >= 0.05}
    if not times:
        raise FileNotFoundError(f"no executed notebooks in {executed_dir}: run `python -m helpers run` first")
    path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    return times


def _cell_seconds(cell: Any) -> float:
    execution = cell.get("metadata", {}).get("execution", {})
    start, end = execution.get("iopub.execute_input"), execution.get("shell.execute_reply")
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def schedule_table(times: list[LessonTime], korean: bool = False, prefix: str = "") -> str:
    """The README's schedule: one row per lesson, then the totals against the 2-hour slot."""
    header, unit, total, folder = (("| 노트북 | 핵심 (그중 실습) | 확장 |", "분", "합계", "notebooks/ko") if korean else
                                   ("| notebook | core (of it exercises) | extensions |", " min", "total", "notebooks"))
    rows = [header, "|---|---|---|"]
    for t in times:
        title = _translated_title(t) if korean else t.title
        rows.append(f"| [{title}]({prefix}{folder}/{t.name}.ipynb) | {round(t.core.minutes)}{unit} "
                    f"({round(t.core.exercises)}{unit}) | {round(t.extensions.minutes)}{unit} |")
    core = sum(round(t.core.minutes) for t in times)
    extra = sum(round(t.extensions.minutes) for t in times)
    rows.append(f"| **{total}** | **{core}{unit}** | {extra}{unit} |")
    return "\n".join(rows) + "\n"


def _translated_title(time: LessonTime) -> str:
    path = NOTEBOOKS_DIR / "ko" / f"{time.name}.ipynb"
    if not path.exists():
        return time.title
    return _source(json.loads(path.read_text())["cells"][0]).splitlines()[0].lstrip("# ").strip()


def write(times: list[LessonTime], directory: Path = NOTEBOOKS_DIR,
          schedules: tuple[tuple[Path, str], ...] = SCHEDULES) -> list[Path]:
    """Rewrite each title cell's time line, in English and in the Korean translation, and the READMEs.

    The Korean line goes into the translations file (a current translation stays current: only
    the time line changed), then the Korean notebooks are rebuilt from it as `translate build` does.
    """
    from helpers import translations

    edition = translations.Edition("ko", directory)
    changed = []
    for t in times:
        english = directory / f"{t.name}.ipynb"
        if _write_title(english, t):
            changed.append(english)
        if _write_translated_title(edition, english, t):
            changed.append(edition.translations_path(english))
    changed += translations.build(edition)
    for readme, prefix in schedules:
        text = readme.read_text()
        table = schedule_table(times, korean=readme.name.endswith(".ko.md"), prefix=prefix)
        new = SCHEDULE.sub(lambda m, table=table: m.group(1) + table + m.group(2), text)
        if new != text:
            readme.write_text(new)
            changed.append(readme)
    return changed


def _write_title(path: Path, time: LessonTime) -> bool:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    title = notebook.cells[0]
    new = TITLE_LINE.sub(time.title_line(), title.source)
    if new == title.source:
        return False
    title.source = new
    nbformat.write(notebook, path)
    return True


def _write_translated_title(edition: Any, english: Path, time: LessonTime) -> bool:
    from helpers import translations

    path = edition.translations_path(english)
    entries = translations.load_translations(path)
    title_cell = translations.read_notebook(english).cells[0]
    entry = entries.get(title_cell.id)
    if not entry:
        return False
    # current if the English it translates differs from the title now by the time line only
    was_current = TITLE_LINE.sub("", entry.get("en", "")) == TITLE_LINE.sub("", title_cell.source)
    new_ko = TITLE_LINE.sub(time.title_line(korean=True), entry.get(edition.language, ""))
    updated = dict(entry, **{edition.language: new_ko})
    if was_current:
        updated.update(en=title_cell.source, source_sha=translations.source_sha(title_cell.source))
    if updated == entry:
        return False
    entries[title_cell.id] = updated
    translations.save_translations(path, entries, english, edition.language)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers lesson-time", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", type=Path, metavar="EXECUTED_DIR",
                        help="first rewrite notebooks/run_times.json from executed copies (work/executed)")
    parser.add_argument("--write", action="store_true", help="write the figures into title cells and README")
    args = parser.parse_args(argv)
    if args.record:
        record_run_times(args.record)
    times = workshop_times()
    for t in times:
        print(f"{t.name:<28} core {t.core.minutes:5.1f} min (reading {t.core.reading:.1f}, exercises "
              f"{t.core.exercises:.0f}, running {t.core.running:.1f}) · extensions {t.extensions.minutes:5.1f} min")
    core = sum(round(t.core.minutes) for t in times)
    print(f"core path: {core} min of a {CORE_BUDGET_MIN}-minute budget")
    if args.write:
        for path in write(times):
            print(f"wrote {path}")
    return 0 if core <= CORE_BUDGET_MIN else 1


if __name__ == "__main__":
    sys.exit(main())

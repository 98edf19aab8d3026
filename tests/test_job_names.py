"""Compilation job names that two runs in the same second cannot share (issue 10, item 7)."""

from __future__ import annotations

import json
import time

import pytest

from helpers import neo
from helpers.paths import NOTEBOOKS_DIR
from helpers.sagemaker_facts import ENTITY_NAME, MAX_NAME_CHARS


def test_job_names_made_in_the_same_second_differ(monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda *_: "20261127-101500")  # one frozen second
    names = {neo.unique_name("neo-workshop") for _ in range(50)}
    assert len(names) > 45  # 4 random hex digits: a repeat among 50 is possible, not likely
    for name in names:
        assert name.startswith("neo-workshop-20261127-101500-") and ENTITY_NAME.fullmatch(name)
        assert len(name + "-exercise-wrong") <= MAX_NAME_CHARS  # what notebook 02 appends


def test_a_prefix_that_leaves_no_room_is_refused():
    with pytest.raises(ValueError, match="shorter prefix"):
        neo.unique_name("x" * 30)
    with pytest.raises(ValueError, match="regular expression pattern"):
        neo.unique_name("my_jobs")


@pytest.mark.parametrize("notebook", sorted(path.name for path in NOTEBOOKS_DIR.glob("0*.ipynb")))
def test_notebooks_name_jobs_uniquely(notebook):
    """Every notebook that submits a compilation job names it with neo.unique_name, never the time alone."""
    cells = json.loads((NOTEBOOKS_DIR / notebook).read_text())["cells"]
    source = "".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    assert "strftime(" not in source
    if "create_compilation_job(" in source or "CompilationJob.create(" in source:
        assert "neo.unique_name(" in source

"""The package stays readable in one sitting: small modules, and docs that name real ones."""

from __future__ import annotations

import pytest

from helpers.paths import REPO_ROOT

MAX_LINES = 400
MODULES = sorted((REPO_ROOT / "helpers").rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_module_is_over_the_size_limit(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, (f"{path.relative_to(REPO_ROOT)} has {lines} lines (limit {MAX_LINES}): "
                                "split it by concern, as helpers/bench/ is split")

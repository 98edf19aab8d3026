"""The package stays readable in one sitting: small modules, and docs that name the real ones (both ways)."""

from __future__ import annotations

import re

import pytest

from helpers.paths import REPO_ROOT

MAX_LINES = 400
MODULES = sorted((REPO_ROOT / "helpers").rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_module_is_over_the_size_limit(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, (f"{path.relative_to(REPO_ROOT)} has {lines} lines (limit {MAX_LINES}): "
                                "split it by concern, as helpers/bench/ is split")


ARCHITECTURE = REPO_ROOT / "docs" / "ARCHITECTURE.md"
NAMED_PATH = re.compile(r"`(helpers/[\w/.]+)`")
DOCUMENTED = [str(p.relative_to(REPO_ROOT)) for p in MODULES if p.name not in ("__init__.py", "__main__.py")]


def test_architecture_page_names_only_modules_that_exist():
    named = set(NAMED_PATH.findall(ARCHITECTURE.read_text()))
    missing = sorted(path for path in named if not (REPO_ROOT / path).exists())
    assert not missing, f"docs/ARCHITECTURE.md names {missing}, which no longer exist: update the page"


def test_architecture_page_names_every_module():
    named = set(NAMED_PATH.findall(ARCHITECTURE.read_text()))
    unnamed = [path for path in DOCUMENTED if path not in named]
    assert not unnamed, f"docs/ARCHITECTURE.md does not say where {unnamed} belong: add them to its tables"


def layout_paths(tree: str) -> set[str]:
    """The .py files a README tree names, as paths: a line's first field (before two spaces) holds
    names; a name ending in "/" is a folder that the more indented lines below it sit in."""
    folders: list[tuple[int, str]] = []
    paths = set()
    for line in tree.splitlines():
        if not line.strip() or line.startswith("```"):
            continue
        indent = len(line) - len(line.lstrip())
        while folders and folders[-1][0] >= indent:
            folders.pop()
        prefix = "".join(folder for _, folder in folders)
        for name in (part.strip() for part in re.split(r"\s{2,}", line.strip())[0].split(",")):
            if name.endswith("/"):
                folders.append((indent, name))
            elif name.endswith(".py"):
                paths.add(prefix + name)
    return paths


def test_layout_paths_reads_nested_folders():
    tree = "helpers/    x\n  a.py    y\n  sub/    z\n    b.py, c.py   w\n  d/e.py   v\ntests/   t\n"
    assert layout_paths(tree) == {"helpers/a.py", "helpers/sub/b.py", "helpers/sub/c.py", "helpers/d/e.py"}


def test_readme_layout_matches_the_tree():
    layout = (REPO_ROOT / "docs" / "LAYOUT.md").read_text()
    listed = {path for path in layout_paths(layout) if path.startswith("helpers/")}
    files = set(DOCUMENTED)
    assert listed == files, (f"docs/LAYOUT.md lists {sorted(listed - files)} that do not exist and misses "
                             f"{sorted(files - listed)}: update it")

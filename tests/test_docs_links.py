"""Every relative link and anchor in the README, its Korean twin and docs/ resolves.

The front door links out to docs/ by reader; a moved section or a renamed heading must not leave a
dead link behind. Anchors are made the way GitHub makes them from headings (lower case, punctuation
dropped, spaces to hyphens), so a link that works here works on GitHub.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([REPO_ROOT / "README.md", REPO_ROOT / "README.ko.md", *(REPO_ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.DOTALL)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file, numbered as GitHub numbers repeats, plus explicit ids."""
    seen: dict[str, int] = {}
    found = set(re.findall(r'<a (?:id|name)="([^"]+)"', path.read_text()))
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            slug = github_anchor(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[str]:
    return [target for target in LINK.findall(CODE.sub("", path.read_text()))
            if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("doc", [d for d in DOCS if d.exists()], ids=lambda d: str(d.relative_to(REPO_ROOT)))
def test_every_relative_link_and_anchor_resolves(doc: Path):
    dead = []
    for target in links(doc):
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            dead.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            dead.append(f"{target} (no heading with that anchor)")
    assert not dead, f"{doc.name} has dead links: {dead}"


def test_the_github_anchor_rule():
    assert github_anchor("Limits like AWS, and troubleshooting") == "limits-like-aws-and-troubleshooting"
    assert github_anchor("Real AWS: set-up, what was verified, troubleshooting") == \
        "real-aws-set-up-what-was-verified-troubleshooting"
    assert github_anchor("한국어판 (Korean edition)") == "한국어판-korean-edition"


LESSONS = sorted([*(REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"), *(REPO_ROOT / "notebooks" / "ko").glob("[0-9][0-9]_*.ipynb")])


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: str(p.relative_to(REPO_ROOT / "notebooks")))
def test_lessons_link_the_glossary_and_every_anchor_exists(lesson: Path):
    """Each lesson links its jargon to the glossary of its language; every linked term has an entry."""
    import json

    markdown = "\n".join("".join(c["source"]) for c in json.loads(lesson.read_text())["cells"] if c["cell_type"] == "markdown")
    glossary = "GLOSSARY.ko.md" if lesson.parent.name == "ko" else "GLOSSARY.md"
    linked = re.findall(rf"{re.escape(glossary)}#([\w-]+)", markdown)
    assert len(set(linked)) >= 2, f"{lesson.name} links fewer than two glossary terms"
    missing = set(linked) - anchors(REPO_ROOT / "docs" / glossary)
    assert not missing, f"{lesson.name} links glossary terms that have no entry: {sorted(missing)}"


def test_both_glossaries_define_the_same_terms():
    english, korean = anchors(REPO_ROOT / "docs" / "GLOSSARY.md"), anchors(REPO_ROOT / "docs" / "GLOSSARY.ko.md")
    assert english - {"glossary"} == korean - {"용어집"} and len(english) > 25

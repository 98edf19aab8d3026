"""The Korean edition (notebooks/ko/) is the English lessons with translated markdown, nothing else.

The English notebooks are the one source of truth for code; `python -m helpers translate build`
writes each Korean notebook from its English one and `notebooks/ko/translations/NN_name.yaml`.
These tests fail when that build was forgotten, when an English markdown cell has no translation
or changed since it was translated, and when any code cell differs between the editions. The last
one is also why nbval executes the English edition only (conftest.py): the Korean notebooks run
exactly the same code cells, in the same order, with the same tags.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import nbformat
import pytest

from helpers import translations
from helpers.paths import NOTEBOOKS_DIR, REPO_ROOT, WORK_DIR_ENV, work_dir
from helpers.runner import workshop_notebooks
from helpers.translations import Edition, source_sha

KOREAN = Edition("ko")
ENGLISH = workshop_notebooks()
FIX = "run `python -m helpers translate status` for the details and what to do"


# --------------------------------------------------------------------------- the repository's edition
def test_every_english_lesson_has_a_korean_notebook_built_from_it():
    unbuilt = [p.headline() for p in translations.review_all(KOREAN) if p.kind == "unbuilt"]
    assert not unbuilt, "notebooks/ko/ is not what the build makes from the English notebooks:\n  " + "\n  ".join(
        unbuilt) + f"\n(forgot `{translations.BUILD_COMMAND}` after editing a notebook or a translation?)"


def test_every_markdown_cell_is_translated_from_the_current_english():
    problems = [p for p in translations.review_all(KOREAN) if p.kind != "unbuilt"]
    assert not problems, "Korean translations missing, stale or orphaned:\n  " + "\n  ".join(
        p.headline() for p in problems) + f"\n{FIX}"


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_korean_notebook_runs_exactly_the_english_code(english):
    """Read from the files, not from the build: same cells in the same order, same ids and tags,
    and every code cell identical (source, metadata, outputs). This is what lets nbval execute one
    edition for both."""
    korean = KOREAN.notebook_path(english)
    assert korean.exists(), f"no {korean.relative_to(REPO_ROOT)}: {FIX}"
    en_cells, ko_cells = nbformat.read(english, 4).cells, nbformat.read(korean, 4).cells
    assert [(c.id, c.cell_type) for c in ko_cells] == [(c.id, c.cell_type) for c in en_cells], (
        f"{korean.name}: cells differ in ids, types or order from the English notebook: {FIX}")
    for en, ko in zip(en_cells, ko_cells, strict=True):
        assert ko.metadata == en.metadata, f"{korean.name}, cell {en.id}: metadata (tags) differ"
        if en.cell_type == "code":
            assert ko == en, f"{korean.name}, cell {en.id}: the code differs from the English notebook's"
    assert nbformat.read(korean, 4).metadata.kernelspec == nbformat.read(english, 4).metadata.kernelspec


def _rendered_text(markdown: str) -> str:
    import mistune  # nbconvert's markdown renderer (the one-file report uses it)

    html = re.sub(r"<code>.*?</code>|<pre>.*?</pre>", "", mistune.html(markdown), flags=re.DOTALL)
    return html


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_korean_markdown_renders_its_bold_and_italics(english):
    """CommonMark's rule that trips Korean text: `**...**` closes only if the closing `**` is not
    squeezed between punctuation and a letter, so `**규약(contract)**을` stays literal asterisks.
    Write `**규약**(contract)을`, or put a space after the closing marker."""
    korean = KOREAN.notebook_path(english)
    for cell in nbformat.read(korean, 4).cells:
        if cell.cell_type == "markdown":
            left = re.findall(r".{0,20}(?<![\\|])\*.{0,20}", _rendered_text(cell.source))
            assert not left, f"{korean.name}, cell {cell.id}: emphasis markers left unrendered: {left}"


SYLLABLES = 60  # docs/LESSON_STYLE.md: split a Korean sentence that runs past about 60 syllables


def _long_sentences(markdown: str) -> list[str]:
    """Sentences of more than SYLLABLES Hangul syllables; a code span or a link target counts as none."""
    plain = re.sub(r"\]\([^)]*\)", "]", re.sub(r"`[^`]*`", "X", markdown))
    return [s for s in re.split(r"(?<=[.?!])\s+|\n+", plain) if len(re.findall("[\uac00-\ud7a3]", s)) > SYLLABLES]


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_korean_sentences_stay_short(english):
    cells = nbformat.read(KOREAN.notebook_path(english), 4).cells
    long = [f"{cell.id}: {s[:80]}..." for cell in cells if cell.cell_type == "markdown" for s in _long_sentences(cell.source)]
    assert not long, f"Korean sentences over {SYLLABLES} syllables, split them:\n  " + "\n  ".join(long)


def test_the_sentence_rule_counts_syllables_not_code():
    assert _long_sentences("가" * 61 + ".") and not _long_sentences("가" * 60 + ". " + "나" * 60 + ".")
    assert not _long_sentences("가" * 30 + " `" + "나" * 40 + "` 다.")


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_korean_notebook_links_resolve_from_its_folder(english):
    korean = KOREAN.notebook_path(english)
    for cell in nbformat.read(korean, 4).cells:
        for target in re.findall(r"\]\(([^)\s]+)\)", cell.source if cell.cell_type == "markdown" else ""):
            if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
                assert (korean.parent / target.split("#")[0]).exists(), f"{korean.name}, cell {cell.id}: {target}"


def test_nbval_collects_the_english_edition_only(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NEO_WORKSHOP_NBVAL_TRANSLATIONS"}
    env[WORK_DIR_ENV] = str(tmp_path)  # the nested session stops "its" backend there, never the caller's
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "notebooks", "--nbval-lax", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    files = set(re.findall(r"^(notebooks/\S+\.ipynb)::", collected, re.MULTILINE))
    assert files == {f"notebooks/{p.name}" for p in ENGLISH}, files


def test_a_relative_work_dir_means_the_same_from_the_korean_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(WORK_DIR_ENV, raising=False)
    relative = os.path.relpath(tmp_path / "shared-work", NOTEBOOKS_DIR)  # like the lessons' "../work"
    monkeypatch.chdir(NOTEBOOKS_DIR)
    from_english = work_dir(relative)
    monkeypatch.chdir(KOREAN.directory)
    assert work_dir(relative) == from_english == (tmp_path / "shared-work").resolve()
    monkeypatch.chdir(tmp_path)  # anywhere else a relative path stays relative to where you are
    assert work_dir("elsewhere") == (tmp_path / "elsewhere").resolve()


# --------------------------------------------------------------------------- the tool, on a scratch lesson
def _lesson(directory, title="# 99 · A lesson\n\nSome **English**.", code="x = 1  # a comment"):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(title, id="title"),
        nbformat.v4.new_code_cell(code, id="code-1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("## Clean up\n\nNothing to do.", id="cleanup-text",
                                      metadata={"tags": ["keypoints"]}),
    ])
    notebook.metadata["kernelspec"] = {"name": "neo-workshop", "display_name": "Python 3 (neo-workshop)",
                                       "language": "python"}
    path = directory / "99_lesson.ipynb"
    nbformat.write(notebook, path)
    return path


def _translate(edition, english, cell_id, text):
    path = edition.translations_path(english)
    entries = translations.load_translations(path)
    entries.setdefault(cell_id, {})["ko"] = text
    translations.save_translations(path, entries, english, "ko")
    translations.mark_done(edition, english, [cell_id])


@pytest.fixture
def scratch(tmp_path):
    english = _lesson(tmp_path)
    return Edition("ko", english_dir=tmp_path), english


def test_build_copies_code_verbatim_and_translates_markdown(scratch):
    edition, english = scratch
    _translate(edition, english, "title", "# 99 · 수업\n\n**영어** 원문.")
    assert translations.build(edition) == [edition.notebook_path(english)]
    built = nbformat.read(edition.notebook_path(english), 4)
    assert built.cells[0].source == "# 99 · 수업\n\n**영어** 원문."
    assert built.cells[1] == nbformat.read(english, 4).cells[1], "the code cell, id and tags as in English"
    assert built.cells[2].source.startswith("## Clean up"), "untranslated cells keep their English"
    assert built.cells[2].metadata.tags == ["keypoints"]
    assert translations.build(edition) == [], "a second build changes nothing"
    kinds = {(p.cell_id, p.kind) for p in translations.review(edition, english)}
    assert kinds == {("cleanup-text", "missing")}


def test_an_english_edit_makes_the_translation_stale_with_the_change_shown(scratch):
    edition, english = scratch
    for cell_id, text in (("title", "# 99 · 수업\n\n**영어** 원문."), ("cleanup-text", "## 리소스 정리\n\n없음.")):
        _translate(edition, english, cell_id, text)
    translations.build(edition)
    assert translations.review(edition, english) == []
    _lesson(english.parent, title="# 99 · A lesson\n\nSome **new** English.")
    (problem,) = translations.review(edition, english)[:1]
    assert (problem.notebook, problem.cell_id, problem.kind) == ("99_lesson.ipynb", "title", "stale")
    report = problem.describe()
    assert "- Some **English**." in report and "+ Some **new** English." in report, report
    assert "**영어** 원문." in report, "the translation to update is shown too"
    translations.mark_done(edition, english, ["title"])  # (a translator updates `ko` first, then rebuilds)
    assert translations.review(edition, english) == []


def test_the_change_shown_keeps_every_removed_line():
    problem = translations.Problem("99_lesson.ipynb", "title", "stale", english="a\nb", translated_from="a\n---\nb")
    assert "    - ---" in problem.describe().splitlines()


def test_a_code_edit_reaches_the_korean_notebook_on_rebuild_and_needs_no_translation(scratch):
    edition, english = scratch
    _translate(edition, english, "title", "# 99 · 수업")
    translations.build(edition)
    _lesson(english.parent, code="x = 2  # changed")
    assert [p.kind for p in translations.review(edition, english)] == ["missing", "unbuilt"]
    translations.build(edition)
    assert nbformat.read(edition.notebook_path(english), 4).cells[1].source == "x = 2  # changed"


def test_status_names_notebook_cell_and_english_text_and_fails(scratch, capsys):
    edition, english = scratch
    code = translations.main("status", "ko", [], [], english_dir=edition.english_dir)
    out = capsys.readouterr().out
    assert code == 1
    assert "99_lesson.ipynb · title · missing" in out and "| Some **English**." in out
    assert "0 of 2 markdown cells" in out and "translate stub" in out


def test_stub_then_done_then_build(scratch, capsys):
    edition, english = scratch
    assert translations.main("stub", "ko", ["99"], [], english_dir=edition.english_dir) == 0
    entries = translations.load_translations(edition.translations_path(english))
    assert list(entries) == ["title", "cleanup-text"] and entries["title"]["ko"] == ""
    with pytest.raises(ValueError, match="write the `ko:` text"):
        translations.main("done", "ko", ["99"], ["title"], english_dir=edition.english_dir)
    entries["title"]["ko"] = "# 99 · 수업"
    translations.save_translations(edition.translations_path(english), entries, english, "ko")
    assert translations.main("done", "ko", ["99"], ["title"], english_dir=edition.english_dir) == 0
    assert translations.load_translations(edition.translations_path(english))["title"]["source_sha"] == (
        source_sha("# 99 · A lesson\n\nSome **English**."))
    with pytest.raises(ValueError, match="no markdown cell \\['code-1'\\]"):
        translations.mark_done(edition, english, ["code-1"])
    translations.main("build", "ko", [], [], english_dir=edition.english_dir)
    assert "1 notebook(s) rebuilt" in capsys.readouterr().out


def test_a_translation_of_a_removed_cell_is_reported(scratch):
    edition, english = scratch
    path = edition.translations_path(english)
    translations.save_translations(path, {"gone": {"source_sha": "0", "en": "Old text.", "ko": "옛 글."}}, english, "ko")
    orphaned = [p for p in translations.review(edition, english) if p.kind == "orphaned"]
    assert [p.cell_id for p in orphaned] == ["gone"] and "Old text." in orphaned[0].describe()


@pytest.mark.parametrize("text", [
    "plain", "", "two\nlines", "trailing spaces  \nfor a markdown line break", "\tindented\n  and # not a comment",
    "key: value\n- [ ] list\n'quotes' \"double\"", "끝에 줄바꿈\n", "\n앞에 줄바꿈", "---\n...\n", "|Δprob| ≤ 1e-3 · ⋯",
])
def test_translations_file_keeps_any_text_exactly(tmp_path, text):
    english = _lesson(tmp_path)
    path = tmp_path / "t.yaml"
    translations.save_translations(path, {"title": {"source_sha": source_sha(text), "en": text, "ko": text}}, english, "ko")
    assert translations.load_translations(path)["title"] == {"source_sha": source_sha(text), "en": text, "ko": text}


def test_a_broken_translations_file_is_a_clear_error(scratch):
    edition, english = scratch
    path = edition.translations_path(english)
    path.parent.mkdir(parents=True)
    path.write_text("title:\n  ko: |-\n  not indented: [\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        translations.review(edition, english)
    path.write_text("title:\n  ko: yes\n")
    with pytest.raises(ValueError, match=r"\['title.ko'\] must be text"):
        translations.review(edition, english)

"""Translated editions of the lessons (`notebooks/<language>/`), built from the English ones.

The English notebooks in `notebooks/` are the one source of truth for code. A translated edition
is *generated*: `python -m helpers translate build` copies each English notebook cell by cell
(code cells, ids, tags and metadata verbatim) and swaps each markdown cell's text for its
translation from `notebooks/<language>/translations/NN_name.yaml`. So a code change cannot leave
the editions apart: rebuild, and the translated notebook has it.

A translations file maps an English markdown cell's `id` to

    source_sha: the hash of the English text that was translated (`source_sha()`)
    en:         that English text, kept to show what changed when the English moves on
    ko:         the translation (the key is the language code)

A translation is *current* when its `source_sha` is the hash of the English cell's text now; an
English edit makes it *stale*, and `python -m helpers translate status` lists it with the change.
`tests/test_translations.py` fails on anything stale, missing or unbuilt. Why YAML and one entry
per cell (not gettext PO per paragraph): a translator rewrites a whole cell, often reordering
sentences across its paragraphs, and YAML's block scalars keep the markdown readable as is.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.paths import NOTEBOOKS_DIR
from helpers.runner import workshop_notebooks

LANGUAGES = ("ko",)  # the editions that exist; a new one needs its folder and translations
TRANSLATIONS_DIR = "translations"
BUILD_COMMAND = "python -m helpers translate build"
METADATA_KEY = "neo_workshop_edition"


def source_sha(text: str) -> str:
    """The hash a translation records of the English it translates (16 hex digits of SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Edition:
    """One translated edition: its folder `notebooks/<language>/` and its translation files."""

    language: str
    english_dir: Path = NOTEBOOKS_DIR

    @property
    def directory(self) -> Path:
        return self.english_dir / self.language

    def notebook_path(self, english: Path) -> Path:
        return self.directory / english.name

    def translations_path(self, english: Path) -> Path:
        return self.directory / TRANSLATIONS_DIR / f"{english.stem}.yaml"

    def english_notebooks(self, only: list[str] | None = None) -> list[Path]:
        """The English lessons (`NN_name.ipynb`), optionally those whose names start with `only`."""
        notebooks = workshop_notebooks(self.english_dir, only)  # those `python -m helpers run` runs
        if only and not notebooks:
            raise ValueError(f"no English notebook in {self.english_dir} starts with {' or '.join(only)}")
        return notebooks


# --------------------------------------------------------------------------- translation files
def load_translations(path: Path) -> dict[str, dict[str, str]]:
    """Cell id -> {source_sha, en, <language>}; empty when the file does not exist yet."""
    import yaml

    if not path.exists():
        return {}
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML ({exc}): fix it by hand, git diff shows what changed") from exc
    if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
        raise ValueError(f"{path}: expected a mapping of cell id -> {{source_sha, en, ko}}")
    not_text = [f"{cell_id}.{key}" for cell_id, entry in entries.items()
                for key, value in entry.items() if not isinstance(value, str)]
    if not_text:  # e.g. `ko: yes` reads as a boolean: write text as a `|-` block
        raise ValueError(f"{path}: {not_text} must be text; write it as a `|-` block, as the other entries are")
    return {str(cell_id): entry for cell_id, entry in entries.items()}


def _dump_yaml(data: Any) -> str:
    """YAML with multi-line text as `|` blocks (markdown stays readable) and Unicode as is."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None  # PyYAML quotes instead where a block cannot hold it exactly
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(data, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=100_000)


def save_translations(path: Path, entries: dict[str, dict[str, str]], english: Path, language: str) -> None:
    """Write a translations file, entries in the English notebook's cell order."""
    order = {cell_id: i for i, cell_id in enumerate(markdown_cells(read_notebook(english)))}
    ordered = dict(sorted(entries.items(), key=lambda item: order.get(item[0], len(order))))
    header = (f"# {language} translation of notebooks/{english.name}: English markdown cell id -> translation.\n"
              f"# Edit `{language}:` only; then `python -m helpers translate done {english.stem[:2]} CELL_ID`\n"
              f"# records which English it translates, and `{BUILD_COMMAND}` writes the notebook.\n"
              "# (Comments other than this header are not kept when the tool rewrites the file.)\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + _dump_yaml(ordered), encoding="utf-8")


# --------------------------------------------------------------------------- notebooks
def read_notebook(path: Path) -> Any:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    missing = [i for i, cell in enumerate(notebook.cells) if not cell.get("id")]
    if missing:
        raise ValueError(f"{path.name}: cells {missing} have no id (nbformat 4.5+); open and save it in "
                         "JupyterLab, or run `nbformat.validator.normalize`, to give them ids")
    return notebook


def markdown_cells(notebook: Any) -> dict[str, str]:
    """English markdown cell id -> its text, in notebook order."""
    return {cell.id: cell.source for cell in notebook.cells if cell.cell_type == "markdown"}


def build_notebook(edition: Edition, english: Path) -> Any:
    """The translated notebook: the English one with each markdown cell's text translated.

    A cell without a translation keeps its English text (the check reports it); a stale
    translation is still used (it is the best text in that language there is until it is updated).
    """
    notebook = copy.deepcopy(read_notebook(english))
    translations = load_translations(edition.translations_path(english))
    for cell in notebook.cells:
        translated = translations.get(cell.id, {}).get(edition.language)
        if cell.cell_type == "markdown" and translated:
            cell.source = translated
    notebook.metadata[METADATA_KEY] = {
        "language": edition.language,
        "generated_from": [f"../{english.name}", f"{TRANSLATIONS_DIR}/{english.stem}.yaml"],
        "do_not_edit": f"generated by `{BUILD_COMMAND}`: edit the English notebook or the translations file",
    }
    return notebook


def render(notebook: Any) -> str:
    """The file text, exactly as nbformat (and so JupyterLab) writes a notebook."""
    import nbformat

    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def build(edition: Edition, only: list[str] | None = None) -> list[Path]:
    """Write the edition's notebooks; return those whose file changed."""
    changed = []
    for english in edition.english_notebooks(only):
        target = edition.notebook_path(english)
        text = render(build_notebook(edition, english))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(target)
    return changed


# --------------------------------------------------------------------------- what needs doing
@dataclass(frozen=True)
class Problem:
    """One thing between an edition and its English source, said so a translator can act on it."""

    notebook: str
    cell_id: str  # "" for a problem of the whole notebook
    kind: str  # missing | stale | orphaned | unbuilt
    english: str = ""
    translated_from: str = ""
    translation: str = ""

    def headline(self) -> str:
        what = {"missing": "not translated yet",
                "stale": "the English changed since it was translated",
                "orphaned": "translation of a markdown cell the English notebook no longer has",
                "unbuilt": f"notebook is not what the build makes: run `{BUILD_COMMAND}`"}[self.kind]
        return f"{self.notebook} · {self.cell_id or '(notebook)'} · {self.kind}: {what}"

    def describe(self) -> str:
        lines = [self.headline()]
        if self.kind == "missing":
            lines += ["  English:", *_quoted(self.english)]
        elif self.kind == "stale":
            lines += ["  English now:", *_quoted(self.english),
                      "  What changed (- translated from, + now):", *_diff(self.translated_from, self.english),
                      "  The translation now:", *_quoted(self.translation)]
        elif self.kind == "orphaned":
            lines += ["  It translated:", *_quoted(self.translated_from),
                      "  Delete the entry, or move it to the cell's new id."]
        return "\n".join(lines)


def _quoted(text: str) -> list[str]:
    return [f"    | {line}".rstrip() for line in text.splitlines()] or ["    | (empty)"]


def _diff(before: str, after: str) -> list[str]:
    changed = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))[2:]
    return [f"    {line[0]} {line[1:]}".rstrip() for line in changed if not line.startswith("@@")] or [
        "    (none: the recorded `en` is the English now, so `source_sha` was edited by hand; run `done`)"]


def review(edition: Edition, english: Path) -> list[Problem]:
    """Every markdown cell missing, stale or orphaned in the translation, and an unbuilt notebook."""
    cells = markdown_cells(read_notebook(english))
    translations = load_translations(edition.translations_path(english))
    name, language = english.name, edition.language
    problems = []
    for cell_id, text in cells.items():
        entry = translations.get(cell_id, {})
        if not str(entry.get(language, "")).strip():
            problems.append(Problem(name, cell_id, "missing", english=text))
        elif entry.get("source_sha") != source_sha(text):
            problems.append(Problem(name, cell_id, "stale", english=text, translated_from=entry.get("en", ""),
                                    translation=entry[language]))
    problems += [Problem(name, cell_id, "orphaned", translated_from=entry.get("en", ""))
                 for cell_id, entry in translations.items() if cell_id not in cells]
    target = edition.notebook_path(english)
    if not target.exists() or target.read_text(encoding="utf-8") != render(build_notebook(edition, english)):
        problems.append(Problem(name, "", "unbuilt"))
    return problems


def review_all(edition: Edition, only: list[str] | None = None) -> list[Problem]:
    problems = [p for english in edition.english_notebooks(only) for p in review(edition, english)]
    known = {english.name for english in edition.english_notebooks()}
    problems += [Problem(path.name, "", "orphaned", translated_from="(the whole notebook)")
                 for path in sorted(edition.directory.glob("*.ipynb")) if path.name not in known and not only]
    return problems


# --------------------------------------------------------------------------- edits
def add_stubs(edition: Edition, english: Path) -> list[str]:
    """Add an empty entry (with the English to translate) for every untranslated markdown cell."""
    path = edition.translations_path(english)
    translations = load_translations(path)
    added = []
    for cell_id, text in markdown_cells(read_notebook(english)).items():
        if cell_id not in translations:
            translations[cell_id] = {"source_sha": "", "en": text, edition.language: ""}
            added.append(cell_id)
    if added:
        save_translations(path, translations, english, edition.language)
    return added


def mark_done(edition: Edition, english: Path, cell_ids: list[str]) -> list[str]:
    """Record that the translations of `cell_ids` match the English as it is now (source_sha, en)."""
    path = edition.translations_path(english)
    translations = load_translations(path)
    cells = markdown_cells(read_notebook(english))
    unknown = [c for c in cell_ids if c not in cells]
    if unknown:
        raise ValueError(f"{english.name} has no markdown cell {unknown}; its markdown cells: {list(cells)}")
    empty = [c for c in cell_ids if not str(translations.get(c, {}).get(edition.language, "")).strip()]
    if empty:
        raise ValueError(f"{path.name}: write the `{edition.language}:` text of {empty} first "
                         f"(`python -m helpers translate stub {english.stem[:2]}` adds the entries)")
    for cell_id in cell_ids:
        entry = translations[cell_id]
        translations[cell_id] = {"source_sha": source_sha(cells[cell_id]), "en": cells[cell_id],
                                 edition.language: entry[edition.language],
                                 **{k: v for k, v in entry.items() if k not in ("source_sha", "en", edition.language)}}
    save_translations(path, translations, english, edition.language)
    return cell_ids


# --------------------------------------------------------------------------- `python -m helpers translate`
def main(action: str, language: str, notebooks: list[str], cell_ids: list[str], every_cell: bool = False,
         english_dir: Path = NOTEBOOKS_DIR) -> int:
    """status | build | stub | done: see `python -m helpers translate --help`."""
    if language not in LANGUAGES:
        raise ValueError(f"no '{language}' edition; the editions are {', '.join(LANGUAGES)}")
    edition = Edition(language, english_dir)
    if action == "build":
        changed = build(edition, notebooks or None)
        for path in changed:
            print(f"wrote {os.path.relpath(path)}")
        print(f"{len(changed)} notebook(s) rebuilt" if changed else f"notebooks/{language}/ was up to date")
        left = [p for p in review_all(edition, notebooks or None) if p.kind != "unbuilt"]
        if left:
            print(f"{len(left)} cell(s) still to translate or update: `python -m helpers translate status`")
        return 0
    if action == "status":
        return _print_status(edition, notebooks or None)
    if action == "stub":
        for english in edition.english_notebooks(notebooks or None):
            added = add_stubs(edition, english)
            print(f"{edition.translations_path(english).name}: "
                  + (f"added empty entries for {', '.join(added)}" if added else "every cell has an entry"))
        return 0
    if action == "done":
        if len(notebooks) != 1 or not (cell_ids or every_cell):
            raise ValueError("usage: python -m helpers translate done NN CELL_ID [CELL_ID ...]  (or NN --all)")
        english = edition.english_notebooks(notebooks)[0]
        if every_cell:
            translated = load_translations(edition.translations_path(english))
            cell_ids = [c for c in markdown_cells(read_notebook(english)) if translated.get(c, {}).get(language)]
        marked = mark_done(edition, english, cell_ids)
        print(f"{english.name}: {len(marked)} translation(s) now record the current English; "
              f"next: `{BUILD_COMMAND}`")
        return 0
    raise ValueError(f"unknown action {action!r}")


def _print_status(edition: Edition, only: list[str] | None) -> int:
    problems = review_all(edition, only)
    for problem in problems:
        print(problem.describe(), end="\n\n")
    english = edition.english_notebooks(only)
    cells = sum(len(markdown_cells(read_notebook(p))) for p in english)
    untranslated = len([p for p in problems if p.kind in ("missing", "stale")])
    print(f"{edition.language}: {cells - untranslated} of {cells} markdown cells in {len(english)} notebooks "
          f"translated from the current English; {len(problems)} problem(s).")
    if any(p.kind != "unbuilt" for p in problems):
        print(f"To fix: write or update `{edition.language}:` of each cell above in "
              f"notebooks/{edition.language}/{TRANSLATIONS_DIR}/NN_name.yaml (`python -m helpers translate stub NN` "
              "adds missing entries), then `python -m helpers translate done NN CELL_ID ...`, "
              f"then `{BUILD_COMMAND}`.")
    elif problems:
        print(f"To fix: `{BUILD_COMMAND}`.")
    return 1 if problems else 0

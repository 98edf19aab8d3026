"""Where the workshop reads and writes.

Everything a notebook writes goes under one *work directory* (git-ignored), so later notebooks
find what earlier ones made and `rm -r work` resets the workshop. `NEO_WORKSHOP_WORK_DIR`
overrides the notebooks' `WORK_DIR` parameter (tests and CI use it to run in a scratch place).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DEFAULT_WORK_DIR = REPO_ROOT / "work"
WORK_DIR_ENV = "NEO_WORKSHOP_WORK_DIR"
STATE_FILE = "state.json"


def work_dir(requested: str | Path | None = None) -> Path:
    """Resolve (and create) the work directory: env var > argument > `<repo>/work`.

    A relative path is relative to the current directory, except in a translated edition's folder
    (`notebooks/<language>/`, where Jupyter starts that edition's kernels): there it is read as if
    from `notebooks/`, because the lessons' `WORK_DIR = "../work"` is written for the English folder
    and every edition must share one work directory (the Korean 02 reads what the English 01 wrote).
    """
    chosen = os.environ.get(WORK_DIR_ENV) or requested or DEFAULT_WORK_DIR
    path = Path(chosen).expanduser()
    if not path.is_absolute() and Path.cwd().resolve().parent == NOTEBOOKS_DIR:
        path = NOTEBOOKS_DIR / path
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


class OutsideDirectoryError(ValueError):
    """A path built from a name would leave the directory it belongs in."""


def inside(base: Path, *parts: str) -> Path:
    """`base/parts...`, resolved, and provably strictly below `base`; raise otherwise.

    Every path built from something a request or a user names (an endpoint, a job) goes through
    here before anything is created or deleted there: `..`, an absolute part or a symlink that
    leads out, and a name that resolves to `base` itself ('' or '.') are all refused, so a
    hostile or mistyped name can never make the caller write or wipe another directory.
    """
    root = Path(base).resolve()
    path = root.joinpath(*parts).resolve()
    if path == root or not path.is_relative_to(root):
        raise OutsideDirectoryError(
            f"{'/'.join(parts)!r} does not name a place inside {root} (it resolves to {path}): "
            "use a plain name (letters, digits, hyphens).")
    return path


def load_state(work: Path) -> dict[str, Any]:
    """What earlier notebooks recorded (S3 URIs, job names); empty when nothing ran yet."""
    path = work / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(work: Path, **values: Any) -> None:
    """Merge `values` into the work directory's state file (what later notebooks read)."""
    state = load_state(work) | values
    (work / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True, default=str))


def require_state(work: Path, key: str, made_by: str) -> Any:
    """Return a value an earlier notebook recorded, or say which notebook to run first."""
    state = load_state(work)
    if key not in state:
        raise RuntimeError(
            f"'{key}' is missing from {work / STATE_FILE}: run {made_by} first "
            f"(with the same WORK_DIR), then re-run this notebook."
        )
    return state[key]

"""Imports run one way: client side and local emulator meet only in shared leaves and `control`.

The `helpers` package has three layers, and the imports between them are parsed (with `ast`,
including the imports inside functions) rather than trusted:

- shared modules, below both sides: they import no client module and nothing of `helpers.local`;
  the *leaves* among them import nothing from `helpers` at all;
- the local emulator, `helpers/local/`: it never imports a client module;
- the client side, every other module (what the notebooks call): of `helpers.local` it imports
  only `helpers.local.control`, the one entry that starts and finds the backend.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "helpers"
LEAVES = {"helpers.paths", "helpers.sagemaker_facts", "helpers.local_names", "helpers.polling",
          "helpers.container.inference", "helpers.expiry_cleaner"}
SHARED = LEAVES | {"helpers.models", "helpers.images", "helpers.tracing", "helpers.packaging",
                   "helpers.machine", "helpers.target_cpus", "helpers.compiler", "helpers.runtime"}
CLIENT_ENTRY_TO_LOCAL = "helpers.local.control"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_local(name: str) -> bool:
    return name == "helpers.local" or name.startswith("helpers.local.")


def is_client(name: str) -> bool:
    return name not in SHARED and not is_local(name)


def helpers_imports(path: Path) -> set[str]:
    """Every `helpers` module `path` imports, anywhere in the file (`from helpers import x` -> helpers.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "helpers"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "helpers":
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= (submodules & set(MODULES)) or {node.module}
    return found


def test_the_layers_name_modules_that_exist():
    missing = sorted(SHARED - set(MODULES))
    assert not missing, f"tests/test_import_directions.py lists modules that do not exist: {missing}"


@pytest.mark.parametrize("name", [n for n in MODULES if is_local(n)])
def test_local_emulator_imports_no_client_module(name):
    upward = sorted(m for m in helpers_imports(MODULES[name]) if is_client(m))
    assert not upward, (f"{name} imports client-side {upward}: move what both sides need into a "
                        f"shared leaf (e.g. helpers/sagemaker_facts.py, helpers/local_names.py)")


@pytest.mark.parametrize("name", [n for n in MODULES if is_client(n)])
def test_client_side_enters_the_emulator_only_through_control(name):
    entered = sorted(m for m in helpers_imports(MODULES[name]) if is_local(m) and m != CLIENT_ENTRY_TO_LOCAL)
    assert not entered, f"{name} imports {entered}: the client side uses the local backend only through {CLIENT_ENTRY_TO_LOCAL}"


@pytest.mark.parametrize("name", sorted(SHARED & set(MODULES)))
def test_shared_modules_sit_below_both_sides(name):
    imported = helpers_imports(MODULES[name])
    above = sorted(m for m in imported if is_client(m) or is_local(m))
    assert not above, f"{name} is shared by both sides but imports {above}"
    if name in LEAVES:
        assert not imported, f"{name} is a leaf: it must import nothing from helpers, not {sorted(imported)}"


def test_the_parser_sees_every_kind_of_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import helpers.aws\nfrom helpers import neo, paths\nfrom helpers.local import control\n"
                      "def f():\n    from helpers.local.server import main\n")
    assert helpers_imports(sample) == {"helpers.aws", "helpers.neo", "helpers.paths",
                                       "helpers.local.control", "helpers.local.server"}

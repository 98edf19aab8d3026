"""Write the TorchScript operators one torch release has, for the pre-flight's operator check.

Real Neo compiles a PyTorch model with the torch of its FrameworkVersion (1.4 ... 2.0). Those
releases need Python <= 3.9 (1.4 - 1.8) or a side environment, so the pre-flight
(helpers/preflight.py) compares a model's operators with a committed list per FrameworkVersion:
`helpers/data/torch_ops/<framework version>.txt`, one `namespace::name[.overload]` a line.

Where the names come from, without running that torch (the release's own wheel):
- `RegistrationDeclarations.h` (torch/include/ATen/, before 1.7 torch/include/torch/csrc/autograd/
  generated/): every ATen native function's schema, generated from native_functions.yaml;
- the schema strings compiled into `torch/lib/libtorch*.so|dylib`: the operators TorchScript
  registers beside them (register_prim_ops.cpp: `aten::Int.Tensor(Tensor a) -> int`,
  `prim::NumToTensor.Scalar(Scalar a) -> Tensor`; unqualified in 1.6: `Int.Tensor(...)`);
- `ATen/core/interned_strings.h`'s `prim` symbols: prim operators registered without a schema
  string (`prim::tolist`), and the IR's node kinds (`prim::Constant`), which the check skips anyway.

`--check PYTHON` measures the method where the torch can run: it extracts the list from that
Python's installed torch the same way, compares it with what that torch registers
(`torch._C._jit_get_all_schemas()`), prints the difference, and writes the registered list
(better than extracted). Measured on torch 1.8.1, 1.12.1 (both in Python 3.8 venvs: `make
torch18` builds the first) and 2.0.1 (`.venv-torch20`): the extraction missed no registered
aten/prim operator; what it adds are names no model calls (see those three files' headers).

Add a version (downloads one wheel into a temporary directory, deleted afterwards):

    .venv/bin/python tools/torch_ops.py 1.13.1                 # -> helpers/data/torch_ops/1.13.txt
    .venv/bin/python tools/torch_ops.py 1.8.1 --check .venv-torch18/bin/python
    .venv/bin/python tools/torch_ops.py 2.0.1 --check .venv-torch20/bin/python
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "helpers" / "data" / "torch_ops"
NAMESPACES = ("aten", "prim")
# The smallest wheels PyPI has of a release: macOS (~100 MB; the Linux ones carry CUDA, ~800 MB).
# The operator registry is built from the same sources on every platform.
WHEEL_PLATFORMS = ("macosx_10_9_x86_64", "macosx_10_15_x86_64", "macosx_11_0_arm64")
WHEEL_PYTHONS = ("3.8", "3.9", "3.10", "3.11")
DECLARATIONS = "/RegistrationDeclarations.h"
INTERNED = "ATen/core/interned_strings.h"
SCHEMA = re.compile(r"^((?:aten|prim)::[A-Za-z_]\w*)(?:\.(\w+))?\(.*\)\s*->\s*\S")  # NAMESPACES
UNQUALIFIED_SCHEMA = re.compile(r"^([A-Za-z_]\w*)(?:\.(\w+))?\(.*\)\s*->\s*\S")
DECLARED_SCHEMA = re.compile(r'"schema": "((?:[^"\\]|\\.)*)"')  # defaults come escaped: mode=\"constant\"
INTERNED_PRIM = re.compile(r"_\(prim, (\w+)\)")
PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{10,}")


def qualified(name: str, overload: str | None) -> str:
    return f"{name}.{overload}" if overload else name


def from_declarations(text: str) -> set[str]:
    """Operators named by RegistrationDeclarations.h's schema comments."""
    return {qualified(m[1], m[2]) for schema in DECLARED_SCHEMA.findall(text) if (m := SCHEMA.match(schema))}


def from_interned(text: str) -> set[str]:
    """The `prim` symbols of interned_strings.h."""
    return {f"prim::{name}" for name in INTERNED_PRIM.findall(text)}


def from_library(data: bytes) -> set[str]:
    """Operators whose schema string is compiled into a shared library.

    `aten::`/`prim::`-qualified strings count as they are. Unqualified ones count as aten when
    torch's schema parser accepts them, which drops C++ noise such as `getOperand(i) -> ...`; the
    few other-namespace ones this lets in (c10d's `allreduce_`) are names no model calls as aten.
    """
    import torch

    found = set()
    for run in PRINTABLE_RUN.findall(data):
        if b"->" not in run or b"(" not in run:
            continue
        text = run.decode("ascii")
        if match := SCHEMA.match(text):
            found.add(qualified(match[1], match[2]))
        elif (match := UNQUALIFIED_SCHEMA.match(text)) and parses(torch, text):
            found.add(qualified(f"aten::{match[1]}", match[2]))
    return found


def parses(torch: object, schema: str) -> bool:
    try:
        torch._C.parse_schema(schema)  # type: ignore[attr-defined]
    except RuntimeError:
        return False
    return True


def is_source(name: str) -> bool:
    """A file of a torch installation the names are read from."""
    library = "/lib/lib" in name and (name.endswith(".dylib") or ".so" in name.rsplit("/", 1)[-1])
    return library or name.endswith((DECLARATIONS, INTERNED))


def operators_in(files: Iterable[tuple[str, bytes]]) -> tuple[set[str], list[str]]:
    """The names over a torch installation's (path, bytes) sources, and which files gave some."""
    found: set[str] = set()
    used = []
    for name, data in files:
        if name.endswith(DECLARATIONS):
            names = from_declarations(data.decode())
        elif name.endswith(INTERNED):
            names = from_interned(data.decode())
        else:
            names = from_library(data)
        if names:
            found |= names
            used.append(name[name.index("torch/"):] if "torch/" in name else name)
    return found, used


def wheel_files(wheel: Path) -> Iterable[tuple[str, bytes]]:
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if is_source(name):
                yield name, archive.read(name)


def installed_files(torch_dir: Path) -> Iterable[tuple[str, bytes]]:
    for path in sorted(torch_dir.rglob("*")):
        if path.is_file() and is_source(path.as_posix()):
            yield path.as_posix(), path.read_bytes()


def download_wheel(version: str, destination: Path) -> Path:
    """One torch wheel from PyPI: the first macOS build found for CPython 3.8 ... 3.11."""
    for python in WHEEL_PYTHONS:
        for platform in WHEEL_PLATFORMS:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                 "--platform", platform, "--python-version", python, "-d", str(destination), f"torch=={version}"],
                capture_output=True, text=True)
            if wheels := sorted(destination.glob("torch-*.whl")):
                return wheels[0]
    raise SystemExit(f"No macOS wheel of torch {version} on PyPI for CPython {', '.join(WHEEL_PYTHONS)}.")


def framework_version(torch_version: str) -> str:
    return ".".join(torch_version.split(".")[:2])


def write_list(operators: set[str], torch_version: str, made_from: list[str]) -> Path:
    """helpers/data/torch_ops/<major.minor>.txt: a header saying how it was made, then the names."""
    DATA.mkdir(parents=True, exist_ok=True)
    target = DATA / f"{framework_version(torch_version)}.txt"
    names = {op.split(".")[0] for op in operators}
    header = [f"TorchScript operators of torch {torch_version} (FrameworkVersion {framework_version(torch_version)}): "
              f"{len(names)} names, {len(operators)} with overloads. Made by tools/torch_ops.py from:",
              *made_from]
    target.write_text("\n".join([*(f"# {line}" for line in header), *sorted(operators)]) + "\n")
    return target


TRUTH_SCRIPT = """
import json, pathlib, torch
print(json.dumps({"version": torch.__version__.split("+")[0], "torch_dir": str(pathlib.Path(torch.__file__).parent),
    "ops": sorted(s.name + ("." + s.overload_name if s.overload_name else "") for s in torch._C._jit_get_all_schemas())}))
"""


def check_against(python: str) -> tuple[str, set[str], list[str]]:
    """Extract from `python`'s installed torch; compare with what that torch registers."""
    done = subprocess.run([python, "-c", TRUTH_SCRIPT], capture_output=True, text=True, check=True)
    truth = json.loads(done.stdout.strip().splitlines()[-1])
    registered = {op for op in truth["ops"] if op.split("::")[0] in NAMESPACES}
    extracted, _ = operators_in(installed_files(Path(truth["torch_dir"])))
    missed = sorted(registered - extracted)
    extra_names = sorted({op.split(".")[0] for op in extracted} - {op.split(".")[0] for op in registered})
    report = [
        f"torch {truth['version']}'s own registry (torch._C._jit_get_all_schemas(), aten and prim only).",
        f"The wheel extraction, measured on this torch: it misses {len(missed)} of these {len(registered)} "
        f"overloads ({', '.join(missed) or 'none'}) and adds {len(extra_names)} names that are no aten/prim "
        "operator here (IR node kinds, other namespaces' unqualified schemas):",
        *[", ".join(extra_names[i:i + 8]) for i in range(0, len(extra_names), 8)],
    ]
    print("\n".join(report))
    return truth["version"], registered, report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("version", help="a torch release on PyPI, e.g. 1.8.1")
    parser.add_argument("--check", metavar="PYTHON", help="a Python with that torch installed: measure "
                        "the extraction against its registry, and write the registered list")
    args = parser.parse_args(argv)
    if args.check:
        version, registered, report = check_against(args.check)
        if version != args.version:
            raise SystemExit(f"{args.check} has torch {version}, not {args.version}.")
        print(write_list(registered, version, report))
        return
    with tempfile.TemporaryDirectory(prefix="torch-ops-") as tmp:
        wheel = download_wheel(args.version, Path(tmp))
        operators, sources = operators_in(wheel_files(wheel))
        print(write_list(operators, args.version, [f"PyPI's {wheel.name}: {', '.join(sources)}",
                                                   "(the method missed no registered operator of torch 1.8.1, "
                                                   "1.12.1 and 2.0.1: see 1.8.txt, 1.12.txt, 2.0.txt)"]))


if __name__ == "__main__":
    main()

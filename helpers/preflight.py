"""Client-side checks before a model goes to real SageMaker Neo: will Neo's own torch read it?
And (check_compiler_options) are its CompilerOptions ones real Neo has?

Real Neo compiles PyTorch models for a FrameworkVersion (1.4 ... 2.0) with that version of
torch. Which torch *traced* the model does not decide whether it reads the TorchScript file;
these do, each necessary, none sufficient alone:
1. the archive's *file format version*: `torch.jit.save` writes the lowest version that preserves
   the model's operators' semantics (PyTorch's "dynamic versioning", caffe2/serialize/versions.h),
   and each torch reads every version up to its `kMaxSupportedFileFormatVersion`;
2. the *operators* the model calls: an older torch fails on one it does not have ("Unknown builtin
   op: aten::pad", pytorch/pytorch#90301), whatever the file format version. They are compared
   with the FrameworkVersion's list in `helpers/data/torch_ops/` (tools/torch_ops.py made them);
3. the *type names* in the archive's code: torch 1.8 does not parse `NoneType`, which newer
   torch writes for a traced `nn.Identity` (helpers.models.drop_identity_modules avoids it);
4. the proof, where that torch is installed beside the workshop (`make torch20`, optionally
   `make torch18`): a real load and forward pass by it.
Measured here: EfficientNet-Lite0 traced and saved with torch 2.14.1 writes version 4 and calls
17 operators, all in torch 1.8.1's registry (after `models.Conv2dSameConstantPad`); torch 1.8.1
loads it (logits within 3.4e-6 of torch 2.14's), torch 1.12.1 and 2.0.1 bit-identically.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from helpers.paths import REPO_ROOT
from helpers.sagemaker_facts import LOCAL_ONLY_COMPILER_OPTIONS, NEO_COMPILER_OPTIONS
from helpers.tracing import SHAPE_OPERATORS, node_kinds

# FrameworkVersion -> the highest TorchScript file format version its torch reads:
# `caffe2::serialize::kMaxSupportedFileFormatVersion`, read from the headers shipped in the
# torch 1.4.0, 1.5.1, 1.6.0, 1.7.1, 1.8.1, 1.12.1, 1.13.1 and 2.0.1 wheels
# (torch/include/caffe2/serialize/inline_container.h, later versions.h). torch 2.14 reads up
# to 10 too. Versions >= 6 are written only to `.data/version`, which torch <= 1.8 never
# reads: the comparison below covers that as well.
MAX_FILE_FORMAT_VERSION = {
    "1.4": 0x2, "1.5": 0x3, "1.6": 0x5, "1.7": 0x5, "1.8": 0x5,
    "1.12": 0xA, "1.13": 0xA, "2.0": 0xA,
}
FRAMEWORK_PYTHON_ENV = "NEO_WORKSHOP_TORCH_PYTHON"  # a python whose torch matches FrameworkVersion
SIDE_ENVIRONMENTS = {"1.8": "torch18", "2.0": "torch20"}  # `make <target>` builds .venv-<target>
OPERATOR_LISTS = Path(__file__).parent / "data" / "torch_ops"  # <FrameworkVersion>.txt, tools/torch_ops.py
CHECKED_NAMESPACES = ("aten", "prim")  # what the lists hold; other namespaces are named, not checked
MODEL_FILES = ("model.pth", "model.pt")
# Type names a newer torch writes into the archive's code that an older torch's parser does not
# know, and the FrameworkVersions whose torch fails on them. NoneType: torch 1.8.1 fails with
# "Unknown type name 'NoneType'" (measured here), 1.7.1 too (FacePerceiver/facer#1), older
# parsers knew no more; torch 1.12.1 and 2.0.1 read it (measured here).
UNKNOWN_TYPE_NAMES = {"NoneType": ("1.4", "1.5", "1.6", "1.7", "1.8")}


class PreflightError(RuntimeError):
    """Real Neo would reject this model: the message says why and what to do."""


@dataclass(frozen=True)
class LoadCheck:
    """What a torch of the FrameworkVersion made of the model: its version and the output."""

    torch_version: str
    output: np.ndarray


def file_format_version(model_file: Path) -> int:
    """The TorchScript archive's file format version, read the way torch reads it.

    A TorchScript file is a zip with one top-level folder; torch reads `<folder>/.data/version`
    when present, else `<folder>/version` (torch/csrc/jit/serialization/import.cpp).
    """
    try:
        with zipfile.ZipFile(model_file) as archive:
            names = archive.namelist()
            for suffix in ("/.data/version", "/version"):
                record = next((n for n in names if n.endswith(suffix) and n.count("/") == suffix.count("/")), None)
                if record:
                    return int(archive.read(record).decode().strip())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise PreflightError(f"{model_file} is not a TorchScript archive ({exc}): save it with torch.jit.save.") from exc
    raise PreflightError(f"{model_file} has no version record: is it a TorchScript file saved with torch.jit.save?")


@dataclass(frozen=True)
class OperatorList:
    """The operator names one torch release has (overloads dropped: an old torch resolves those itself)."""

    torch_version: str
    names: frozenset[str]


@cache
def framework_operators(framework_version: str) -> OperatorList | None:
    """The committed operator list of a FrameworkVersion's torch, or None when there is none."""
    path = OPERATOR_LISTS / f"{framework_version}.txt"
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    release = re.search(r"torch (\d+\.\d+\.\d+)", lines[0])
    names = frozenset(line.split(".")[0] for line in lines if line and not line.startswith("#"))
    return OperatorList(release[1] if release else framework_version, names)


def operators_used(model_file: Path) -> set[str]:
    """The registered operators (`aten::pad`, `prim::NumToTensor`, ...) a TorchScript file calls.

    Loaded with this kernel's torch: every node of the inlined forward graph, in every block,
    keeping the kinds torch registers as operators; the IR's own node kinds (prim::Constant,
    prim::GetAttr, prim::ListConstruct, prim::If, ...) are syntax every torch reads.
    """
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            module = torch.jit.load(str(model_file), map_location="cpu")
    except RuntimeError as exc:
        raise PreflightError(f"{model_file.name} does not load even with torch {torch.__version__}: {exc}") from exc
    registered = {schema.name for schema in torch._C._jit_get_all_schemas()}
    return set(node_kinds(module.inlined_graph)) & registered


def extract_model_file(archive: Path, destination: Path) -> Path:
    """The TorchScript file (model.pth or model.pt, at the root) of a model.tar.gz, extracted."""
    with tarfile.open(archive) as tar:
        names = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
        name = next((n for n in MODEL_FILES if n in names), None)
        if name is None:
            raise PreflightError(f"{archive} has no {' or '.join(MODEL_FILES)} at its root: Neo needs the "
                                 "TorchScript file there (helpers.packaging.build_model_archive puts it there).")
        tar.extract(names[name], destination, filter="data")
    return destination / name


def side_python(framework_version: str) -> Path | None:
    """The Python of the side environment `make torch20` (or `torch18`) builds, if any."""
    target = SIDE_ENVIRONMENTS.get(framework_version)
    return REPO_ROOT / f".venv-{target}" / "bin" / "python" if target else None


def framework_python(framework_version: str) -> Path | None:
    """A Python whose torch is the FrameworkVersion's: its side venv, else `$NEO_WORKSHOP_TORCH_PYTHON`.

    The load by a torch of another version proves nothing; `_verdict` says so.
    """
    chosen = os.environ.get(FRAMEWORK_PYTHON_ENV)
    for candidate in (side_python(framework_version), Path(chosen) if chosen else None):
        if candidate and candidate.exists():
            return candidate
    return None


LOAD_SCRIPT = """
import json, sys
import numpy as np, torch
model = torch.jit.load(sys.argv[1], map_location="cpu").eval()
with torch.no_grad():
    out = model(torch.from_numpy(np.load(sys.argv[2])))
out = out[0] if isinstance(out, (tuple, list)) else out
np.save(sys.argv[3], out.numpy())
print(json.dumps({"torch": torch.__version__.split("+")[0]}))
"""


def load_with(python: Path, model_file: Path, example: np.ndarray, timeout_s: float = 300) -> LoadCheck:
    """Load `model_file` with the torch of `python` and run `example` through it."""
    with tempfile.TemporaryDirectory(prefix="neo-preflight-") as tmp:
        inputs, outputs = Path(tmp) / "x.npy", Path(tmp) / "y.npy"
        np.save(inputs, example)
        done = subprocess.run([str(python), "-c", LOAD_SCRIPT, str(model_file), str(inputs), str(outputs)],
                              capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise PreflightError(f"torch from {python} could not load or run {model_file.name}: "
                                 f"{_failure(done.stderr, done.returncode)}")
        return LoadCheck(json.loads(done.stdout.strip().splitlines()[-1])["torch"], np.load(outputs))


def _failure(stderr: str, returncode: int) -> str:
    """The line that says why: a Python error's message, a C++ abort's `what()`, else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if re.match(r"(\w+Error|what\(\)):", line):
            message = line.split(":", 1)[1].strip()
            return message or (lines[index + 1] if index + 1 < len(lines) else line)
    if returncode < 0:
        return f"the process died (signal {-returncode})"
    return lines[-1] if lines else "(no output)"


def check_framework_version(archive: Path, framework_version: str, input_shape: list[int],
                            backend_name: str) -> str:
    """Stop before submitting a model real Neo's torch cannot read; return a one-line verdict.

    On `aws` a failing check raises PreflightError (the job would fail minutes later otherwise);
    on `local` it is only reported, because the local Neo (OpenVINO) reads any TorchScript.
    """
    if framework_version not in MAX_FILE_FORMAT_VERSION:
        raise ValueError(f"FrameworkVersion {framework_version!r} is not one Neo accepts for PyTorch: "
                         f"{', '.join(MAX_FILE_FORMAT_VERSION)}.")
    try:
        return _verdict(archive, framework_version, input_shape)
    except PreflightError as exc:
        if backend_name == "aws":
            raise
        return f"{exc} (the local Neo reads it anyway)"


def _verdict(archive: Path, framework_version: str, input_shape: list[int]) -> str:
    with tempfile.TemporaryDirectory(prefix="neo-preflight-") as tmp:
        model_file = extract_model_file(archive, Path(tmp))
        parts = [_check_file_format(model_file, framework_version)]
        used = operators_used(model_file)
        parts.append(_check_static_shapes(used, model_file))
        missing, operators = _check_operators(used, framework_version)
        unknown = type_names_unknown_to(model_file, framework_version)
        problems = [*([_missing_message(model_file, missing, framework_version, used)] if missing else []),
                    *([_type_message(model_file, unknown, framework_version)] if unknown else [])]
        parts += [operators, *_type_line(framework_version, unknown)]
        python = framework_python(framework_version)
        if python is None:
            if problems:
                raise PreflightError(" ".join(problems))
            target = SIDE_ENVIRONMENTS.get(framework_version)
            hint = (f"`make {target}` adds one; torch 2.0.1 has wheels up to Python 3.11, 1.8.1 up to 3.8, "
                    "which make finds with pyenv or downloads with uv, as in SageMaker Studio"
                    if target else f"set {FRAMEWORK_PYTHON_ENV} to a Python with torch {framework_version}")
            return "; ".join([*parts, f"not loaded: no torch {framework_version} here ({hint})"]) + "."
        try:
            check = load_with(python, model_file, np.zeros(input_shape, dtype=np.float32))
        except PreflightError as exc:
            raise PreflightError(" ".join([*problems, str(exc)])) from exc
        if _minor(check.torch_version) != framework_version:
            if problems:
                raise PreflightError(" ".join(problems))
            parts.append(f"torch {check.torch_version} from {python} also loaded it, but that is not "
                         f"FrameworkVersion {framework_version}'s torch: no proof")
        else:
            parts.append(f"torch {check.torch_version} loaded it and ran {input_shape} -> {list(check.output.shape)}"
                         + (" (so the lists above are wrong: please report it)" if problems else ""))
        return "; ".join(parts) + "."


class RuntimeShapeWarning(UserWarning):
    """The graph reads its input's shape at run time: Neo's compiler has arithmetic to fold."""


def _check_static_shapes(used: set[str], model_file: Path) -> str:
    """Warn (not refuse: newer TVM frontends fold it) when the graph computes shapes at run time.

    Older TVM PyTorch frontends reject a pad width that is not a constant ("pad width should be
    int/expr"), and TargetPlatform compiles with FrameworkVersion 1.8, the oldest.
    """
    reading = sorted(used & SHAPE_OPERATORS)
    if not reading:
        return "no shapes computed at run time"
    warnings.warn(RuntimeShapeWarning(
        f"{model_file.name} computes shapes at run time ({', '.join(reading)} feed its arithmetic): Neo's compiler "
        "must fold these: trace with fixed shapes (compute pads and sizes from Python ints, as "
        "helpers.models.Conv2dSameConstantPad does), or the compilation job may fail."), stacklevel=3)
    return f"shapes computed at run time ({', '.join(reading)}): see the warning"


def _minor(torch_version: str) -> str:
    return ".".join(torch_version.split(".")[:2])


def type_names_unknown_to(model_file: Path, framework_version: str) -> list[str]:
    """The type names in the archive's code (`code/**/*.py`) that the FrameworkVersion's torch cannot parse."""
    names = [name for name, versions in UNKNOWN_TYPE_NAMES.items() if framework_version in versions]
    if not names:
        return []
    pattern = re.compile(rf"\b({'|'.join(names)})\b")
    found: set[str] = set()
    with zipfile.ZipFile(model_file) as archive:
        for record in archive.namelist():
            if "/code/" in record and record.endswith(".py"):
                found |= set(pattern.findall(archive.read(record).decode(errors="replace")))
    return sorted(found)


def _type_line(framework_version: str, unknown: list[str]) -> list[str]:
    names = [name for name, versions in UNKNOWN_TYPE_NAMES.items() if framework_version in versions]
    return [f"no type name its torch cannot parse ({', '.join(names)})"] if names and not unknown else []


def _type_message(model_file: Path, unknown: list[str], framework_version: str) -> str:
    newer = [v for v in MAX_FILE_FORMAT_VERSION if not any(v in UNKNOWN_TYPE_NAMES[n] for n in unknown)]
    return (f"{model_file.name}'s code uses the type name {', '.join(unknown)}, which the torch of FrameworkVersion "
            f"{framework_version} does not parse (\"Unknown type name '{unknown[0]}'\"): newer torch writes it for a "
            "traced submodule that returns its input untouched (nn.Identity). Replace those by a plain function "
            "before tracing (helpers.models.drop_identity_modules does), or pick FrameworkVersion "
            f"{newer[0]} or newer.")


def _check_file_format(model_file: Path, framework_version: str) -> str:
    readable = MAX_FILE_FORMAT_VERSION[framework_version]
    version = file_format_version(model_file)
    if version > readable:
        raise PreflightError(
            f"{model_file.name} has TorchScript file format version {version}, but the torch of "
            f"FrameworkVersion {framework_version} reads up to {readable}: real Neo would fail to load it. "
            f"Trace and save it with torch {framework_version} (e.g. `make torch20` gives "
            "`.venv-torch20`), or pick a newer FrameworkVersion.")
    return f"file format version {version} <= {readable}, the newest FrameworkVersion {framework_version}'s torch reads"


def _check_operators(used: set[str], framework_version: str) -> tuple[list[str], str]:
    """The operators the FrameworkVersion's torch lacks, and a one-line account of the check."""
    listed = framework_operators(framework_version)
    checked = {op for op in used if op.split("::")[0] in CHECKED_NAMESPACES}
    others = f" ({', '.join(sorted(used - checked))} not checked: outside aten/prim)" if used - checked else ""
    if listed is None:
        return [], (f"{len(checked)} operators not checked: no list for FrameworkVersion {framework_version} "
                    f"(tools/torch_ops.py makes one){others}")
    missing = sorted(checked - listed.names)
    verdict = (f"{len(checked) - len(missing)} of its {len(checked)} operators" if missing
               else f"all {len(checked)} operators it calls")
    return missing, f"{verdict} are in torch {listed.torch_version}'s list{others}"


def _missing_message(model_file: Path, missing: list[str], framework_version: str, used: set[str]) -> str:
    listed = framework_operators(framework_version)
    release = listed.torch_version if listed else framework_version
    newer = [version for version in MAX_FILE_FORMAT_VERSION
             if (ops := framework_operators(version)) and not {op for op in used if op.split("::")[0]
                                                               in CHECKED_NAMESPACES} - ops.names]
    pad_hint = (" (aten::pad: pad with torch.constant_pad_nd instead of F.pad, as "
                "helpers.models.Conv2dSameConstantPad does)") if "aten::pad" in missing else ""
    return (f"{model_file.name} calls {', '.join(missing)}, which torch {release} (FrameworkVersion "
            f"{framework_version}) does not have: real Neo would fail to load it (\"Unknown builtin op\"), "
            f"although its file format version is fine. Trace it with operators that torch has{pad_hint}, or "
            f"pick a FrameworkVersion whose torch has them all: {', '.join(newer) or 'none listed'}.")


def check_compiler_options(options: dict[str, Any] | str, backend_name: str) -> str:
    """The CompilerOptions JSON to send, after refusing on `aws` what real Neo does not take.

    Neo's documented keys (`sagemaker_facts.NEO_COMPILER_OPTIONS`: mcpu, mattr, dtype, gpu-code...)
    pass. `precision_mode` is the local Neo's own option (LOCAL_ONLY_COMPILER_OPTIONS): on `aws`
    it is refused here rather than sent, because real Neo documents no such key and what it does
    with an unknown one is not documented either; other unknown keys likewise. On `local` the
    options go as they are: the local Neo answers for itself (a FailureReason names a bad key).
    A string (Inferentia's form: neuron-cc flags as a JSON string) is sent as it is.
    """
    if isinstance(options, str):
        return options
    if backend_name == "aws":
        local_only = sorted(set(options) & set(LOCAL_ONLY_COMPILER_OPTIONS))
        if local_only:
            raise PreflightError(
                f"CompilerOptions {', '.join(local_only)} is a local-only option of the workshop's local Neo, "
                "not a SageMaker Neo option: real Neo would not honour it, so it is not sent. Remove it for "
                f"BACKEND='aws' (Neo's options: {', '.join(NEO_COMPILER_OPTIONS)}).")
        unknown = sorted(set(options) - set(NEO_COMPILER_OPTIONS))
        if unknown:
            raise PreflightError(
                f"CompilerOptions {', '.join(unknown)}: not a documented SageMaker Neo option, so it is not sent. "
                f"Neo's options: {', '.join(NEO_COMPILER_OPTIONS)} (OutputConfig.CompilerOptions in the API reference).")
    return json.dumps(options)

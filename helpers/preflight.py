"""Client-side checks before a model goes to real SageMaker Neo: will Neo's own torch read it?
And (check_compiler_options) are its CompilerOptions ones real Neo has?

Real Neo compiles PyTorch models for a FrameworkVersion (1.4 ... 2.0) with that version of
torch. What decides whether it can read a TorchScript file is not which torch *traced* it but the
archive's *file format version*: `torch.jit.save` writes the lowest version that preserves the
model's operators' semantics (PyTorch's "dynamic versioning", caffe2/serialize/versions.h), and
each torch reads every version up to its `kMaxSupportedFileFormatVersion`. Measured here:
EfficientNet-Lite0 traced and saved with torch 2.14.1 writes version 4, and torch 2.0.1 loads it
and returns bit-identical logits. So the check is: the archive's version against what the
FrameworkVersion's torch reads, then, where a matching torch is installed beside the workshop
(`make torch20` builds `.venv-torch20`), a real load and forward pass by that torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.paths import REPO_ROOT
from helpers.sagemaker_facts import LOCAL_ONLY_COMPILER_OPTIONS, NEO_COMPILER_OPTIONS

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
SIDE_ENVIRONMENTS = {"2.0": REPO_ROOT / ".venv-torch20" / "bin" / "python"}  # `make torch20`
MODEL_FILES = ("model.pth", "model.pt")


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


def framework_python(framework_version: str) -> Path | None:
    """A Python whose torch is the FrameworkVersion's: `$NEO_WORKSHOP_TORCH_PYTHON` or a side venv."""
    chosen = os.environ.get(FRAMEWORK_PYTHON_ENV)
    candidate = Path(chosen) if chosen else SIDE_ENVIRONMENTS.get(framework_version)
    return candidate if candidate and candidate.exists() else None


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
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise PreflightError(f"torch from {python} could not load or run {model_file.name}: {last}")
        return LoadCheck(json.loads(done.stdout.strip().splitlines()[-1])["torch"], np.load(outputs))


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
    readable = MAX_FILE_FORMAT_VERSION[framework_version]
    with tempfile.TemporaryDirectory(prefix="neo-preflight-") as tmp:
        model_file = extract_model_file(archive, Path(tmp))
        version = file_format_version(model_file)
        if version > readable:
            raise PreflightError(
                f"{model_file.name} has TorchScript file format version {version}, but the torch of "
                f"FrameworkVersion {framework_version} reads up to {readable}: real Neo would fail to load it. "
                f"Trace and save it with torch {framework_version} (e.g. `make torch20` gives "
                "`.venv-torch20`), or pick a newer FrameworkVersion.")
        verdict = f"file format version {version} <= {readable}, readable by FrameworkVersion {framework_version}'s torch"
        python = framework_python(framework_version)
        if python is None:
            hint = "`make torch20` adds one (it needs a Python 3.11: torch 2.0.1 has no wheel for 3.12)" \
                if framework_version in SIDE_ENVIRONMENTS else (
                f"set {FRAMEWORK_PYTHON_ENV} to a Python with torch {framework_version}")
            return f"{verdict} (not loaded: no torch {framework_version} here; {hint})."
        check = load_with(python, model_file, np.zeros(input_shape, dtype=np.float32))
        return f"{verdict}; torch {check.torch_version} loaded it and ran {input_shape} -> {list(check.output.shape)}."



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

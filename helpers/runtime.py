"""Run a compiled model "the DLR way": `model = load_compiled_model(path)`, `y = model.run(x)`.

A Neo artifact carries everything needed to run it: the generated code, the weights, and (when
Neo compiles for a TargetPlatform / edge device) the runtime itself, `libdlr.so`. The `dlr`
Python package is a thin ctypes wrapper that loads that bundled library, so the same two lines
run the model on any machine, with no PyTorch installed.

The local Neo writes OpenVINO IR instead (`compiled.xml` + `compiled.bin` + `compiled.meta`):
DLR cannot run it, so `load_compiled_model` serves it through OpenVINO behind the same
interface (`run`, `get_input_names`, `get_output_names`), and says which runtime it used.

`import dlr` turns on a "phone home" feature that posts device and model hashes to AWS on every
model load unless an opt-out file exists *before* the first import; `disable_dlr_telemetry`
writes it without importing dlr, and `load_compiled_model` always calls it first.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from helpers import target_cpus

DLR_CONFIG_FILE = "ccm_config.json"  # dlr/counter/config.py: CALL_HOME_USER_CONFIG_FILE
DLR_PHONE_HOME_KEY = "enable_phone_home"  # dlr/counter/phone_home.py: ENABLE_PHONE_HOME_CONFIG
DLR_LIBRARY = "libdlr.so"
DLR_LOGGER = "dlr.neologger_logger"  # dlr/neologger.py: create_logger
DLR_FILES = ("compiled.so", "compiled.params", "compiled_model.json")
OPENVINO_FILES = ("compiled.xml", "compiled.bin", "compiled.meta")

# What each file of an artifact is for; notebooks show `describe_artifact` as a table.
FILE_ROLES = {
    "compiled.so": "generated code: the model's operators compiled to machine code for the target",
    "compiled.params": "weights, serialised for the generated code",
    "compiled_model.json": "graph: how the compiled operators connect (TVM graph executor)",
    "compiled.meta": "compile settings: inputs/outputs, target, compiler version, runtime settings",
    "compiled.xml": "OpenVINO IR graph: the optimised network (local Neo)",
    "compiled.bin": "weights of the OpenVINO IR graph (local Neo)",
    "compiled.pt": "Neo artifact for ml_* instances: TorchScript run by the Neo PyTorch image",
    "model.pt": "TorchScript (in a Neo ml_* output: the compiled model, run by the Neo PyTorch image)",
    "sample_input.pkl": "an example input Neo saved with the model; entry scripts warm up with it",
    "libdlr.so": "bundled runtime: the DLR library that loads and runs compiled.so",
    "dlr.h": "bundled runtime: C header of libdlr.so, to call the model from C/C++",
    "manifest": "Neo's list of the artifact's files and their checksums",
    "model.pth": "TorchScript: the model Neo reads, or in a Neo ml_* output the compiled one (Neo PyTorch image)",
    "code/inference.py": "entry script: model_fn/input_fn/predict_fn/output_fn for the endpoint",
    "code/model-config.json": "preprocessing settings and class names for the entry script",
    "code/requirements.txt": "extra pip packages the serving container installs",
}


class CompiledModel(Protocol):
    """DLR's interface, which both runtimes below offer."""

    runtime: str

    def run(self, x: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]: ...

    def get_input_names(self) -> list[str]: ...

    def get_output_names(self) -> list[str]: ...


# --------------------------------------------------------------------------- telemetry
def dlr_config_path() -> Path:
    """Where dlr reads its phone-home setting: `dlr/counter/ccm_config.json`, found without importing dlr."""
    spec = importlib.util.find_spec("dlr")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("The dlr package is not installed: `pip install dlr==1.10.0`.")
    return Path(next(iter(spec.submodule_search_locations))) / "counter" / DLR_CONFIG_FILE


def disable_dlr_telemetry(config_path: Path | None = None) -> Path:
    """Write dlr's phone-home opt-out (keeping any other keys) and return the file's path.

    dlr decides at import time: with no config file it enables the feature, writes the file and
    posts to api.neo-dlr.amazonaws.com; so the file must say `false` before `import dlr`.
    Idempotent: an existing opt-out is left untouched.
    """
    path = config_path or dlr_config_path()
    config: dict[str, Any] = {}
    if path.is_file():
        try:
            loaded = json.loads(path.read_text() or "{}")
            config = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            config = {}  # dlr would fail to read it too (and then treat the feature as off)
    if config.get(DLR_PHONE_HOME_KEY) is False:
        return path
    config[DLR_PHONE_HOME_KEY] = False
    try:
        path.write_text(json.dumps(config))
    except OSError as exc:
        raise PermissionError(
            f"Cannot write the DLR telemetry opt-out to {path} ({exc}): create it by hand with "
            f'the content {{"{DLR_PHONE_HOME_KEY}": false}} before importing dlr.'
        ) from exc
    return path


# --------------------------------------------------------------------------- runtimes
class OpenVINOModel:
    """A local Neo artifact behind DLR's interface, compiled with the settings in compiled.meta."""

    def __init__(self, path: Path, device: str = "cpu") -> None:
        import openvino as ov

        if device.lower() != "cpu":
            raise RuntimeError(
                f"Device {device!r}: the local Neo compiles for CPU targets only; use device='cpu'."
            )
        meta = json.loads((path / "compiled.meta").read_text())
        if problem := target_cpus.load_problem(meta):  # as real Neo's code would: illegal instruction
            raise RuntimeError(f"{path}: {problem}")
        self.meta = meta
        # ONEDNN_MAX_CPU_ISA as this process started: the instruction-set cap its kernels obey
        self.isa = target_cpus.running_level(meta, os.environ.get(target_cpus.ISA_ENV))
        self._input_names = [item["name"] for item in meta.get("inputs", [])]
        self._output_names = [item["name"] for item in meta.get("outputs", [])]
        self._compiled = ov.Core().compile_model(
            str(path / "compiled.xml"), "CPU", meta.get("runtime_config", {})
        )
        self._request = self._compiled.create_infer_request()
        if not self._input_names:
            self._input_names = [port.get_any_name() for port in self._compiled.inputs]
        if not self._output_names:
            self._output_names = [port.get_any_name() for port in self._compiled.outputs]
        version = ov.get_version().split("-")[0]
        self.runtime = f"OpenVINO {version} (local Neo artifact; DLR cannot run it)"

    def get_input_names(self) -> list[str]:
        return list(self._input_names)

    def get_output_names(self) -> list[str]:
        return list(self._output_names)

    def kernels(self) -> dict[str, int]:
        """The CPU plugin's kernel per convolution (e.g. brgconv_avx2_1x1_f32), counted: what this CPU and cap picked."""
        counts: dict[str, int] = {}
        for node in self._compiled.get_runtime_model().get_ordered_ops():
            info = node.get_rt_info()
            if "layerType" in info and info["layerType"].astype(str) == "Convolution" and "primitiveType" in info:
                kernel = info["primitiveType"].astype(str)
                counts[kernel] = counts.get(kernel, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))

    def run(self, x: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
        """One inference; like DLR, a bare array feeds the first input, a dict feeds by name."""
        if isinstance(x, dict):
            unknown = sorted(set(x) - set(self._input_names))
            if unknown:
                raise ValueError(f"Unknown input name(s) {unknown}: the model takes {self._input_names}.")
            inputs = {self._input_names.index(k): np.ascontiguousarray(v, np.float32) for k, v in x.items()}
        else:
            inputs = {0: np.ascontiguousarray(x, np.float32)}
        for index, array in inputs.items():
            self._check_shape(self._input_names[index], array)
        results = self._request.infer(inputs)
        # copy: the request reuses its output buffers on the next call
        return [np.array(results[port]) for port in self._compiled.outputs]

    def _check_shape(self, name: str, array: np.ndarray) -> None:
        """Neo compiles for the DataInputConfig shape only: say so instead of OpenVINO's error."""
        expected = next((item.get("shape") for item in self.meta.get("inputs", []) if item["name"] == name), None)
        if expected and list(array.shape) != list(expected):
            raise ValueError(
                f"Input {name!r} has shape {list(array.shape)} but the model was compiled for "
                f"{list(expected)}: Neo compiles for the DataInputConfig shape only; compile again "
                "with the shape you need (e.g. one artifact per batch size)."
            )


class DLRBackedModel:
    """dlr.DLRModel plus a `runtime` string; everything else is DLR's own object."""

    def __init__(self, model: Any, runtime: str) -> None:
        self._model, self.runtime = model, runtime

    def run(self, x: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._model.run(x)

    def get_input_names(self) -> list[str]:
        return list(self._model.get_input_names())

    def get_output_names(self) -> list[str]:
        return list(self._model.get_output_names())

    def __getattr__(self, name: str) -> Any:  # get_version, get_input_dtypes, ...
        return getattr(self._model, name)


def _contents(path: Path) -> str:
    names = sorted(f"{p.name}/" if p.is_dir() else p.name for p in path.iterdir())
    return ", ".join(names) if names else "nothing (empty directory)"


def _load_dlr(path: Path, device: str) -> DLRBackedModel:
    disable_dlr_telemetry()
    import dlr
    from dlr.libpath import DLRLibraryNotFound, find_lib_path

    if (path / DLR_LIBRARY).is_file():
        # use_default_dlr=False (dlr's default): libpath.find_lib_path picks <model dir>/libdlr.so
        model = _dlr_model(dlr, path, device, use_default_dlr=False)
        return DLRBackedModel(model, f"DLR {model.get_version()} (bundled {DLR_LIBRARY})")
    try:
        library = find_lib_path(None, use_default_dlr=True)
    except DLRLibraryNotFound:
        raise RuntimeError(
            f"{path} holds a DLR artifact ({_contents(path)}) but no {DLR_LIBRARY}, and the installed "
            f"dlr {dlr.__version__} wheel ships no native library either. Compile with a target "
            f"device / TargetPlatform (Neo then bundles {DLR_LIBRARY} and dlr.h in the artifact), "
            "or install DLR built from source (github.com/neo-ai/neo-ai-dlr)."
        ) from None
    model = _dlr_model(dlr, path, device, use_default_dlr=True)
    return DLRBackedModel(model, f"DLR {model.get_version()} (installed {library})")


def _dlr_model(dlr: Any, path: Path, device: str, *, use_default_dlr: bool) -> Any:
    """dlr.DLRModel, with its failure restated next to what the directory holds."""
    quiet = logging.getLogger(DLR_LOGGER)
    quiet.disabled = True  # dlr logs its own stack trace before raising; we restate it below
    try:
        return dlr.DLRModel(str(path), device, use_default_dlr=use_default_dlr)
    except Exception as exc:  # noqa: BLE001 - DLRError, OSError from ctypes, ValueError...
        raise RuntimeError(
            f"DLR could not load the artifact in {path} ({_contents(path)}): "
            f"{type(exc).__name__}: {str(exc).strip()}. Check that the artifact was compiled for "
            "this platform (CPU architecture, OS) and that the directory is complete."
        ) from exc
    finally:
        quiet.disabled = False


def load_compiled_model(path: Path | str, device: str = "cpu") -> CompiledModel:
    """Load the compiled artifact in directory `path`: DLR if it is a DLR artifact, else OpenVINO.

    Raises FileNotFoundError/RuntimeError naming what the directory holds and what to do,
    instead of the runtime's own stack trace.
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(
            f"No compiled model at {path}: compile first (notebook 02 or "
            "helpers.compiler.compile_torchscript) and pass the output directory."
        )
    if path.is_file():
        hint = " Extract it first: `tar -xzf` into a directory." if path.name.endswith((".tar.gz", ".tgz")) else ""
        raise FileNotFoundError(f"{path} is a file: pass the directory holding the compiled artifact.{hint}")
    names = {p.name for p in path.iterdir()}
    if names & {*DLR_FILES, DLR_LIBRARY}:
        return _load_dlr(path, device)
    if {"compiled.xml", "compiled.meta"} <= names:
        if "compiled.bin" not in names:
            raise FileNotFoundError(
                f"{path} has compiled.xml but no compiled.bin (the weights): it holds {_contents(path)}. "
                "Copy the whole compile output directory."
            )
        return OpenVINOModel(path, device)
    if names & {"compiled.pt", "model.pth", "model.pt"}:
        raise RuntimeError(
            f"{path} holds TorchScript ({_contents(path)}): an uncompiled model, or a Neo artifact for ml_* "
            "instances, which runs in the SageMaker Neo PyTorch inference image (neopytorch), not with DLR. "
            f"DLR runs a DLR artifact ({', '.join(DLR_FILES)}) and this loader a local Neo one "
            f"({', '.join(OPENVINO_FILES)}): compile for a TargetPlatform (notebook 04) to get one."
        )
    raise RuntimeError(
        f"{path} holds no compiled model: it contains {_contents(path)}. Expected a DLR artifact "
        f"({', '.join(DLR_FILES)}, {DLR_LIBRARY}) or a local Neo artifact ({', '.join(OPENVINO_FILES)}). "
        "Pass the directory Neo's output model.tar.gz was extracted to."
    )


# --------------------------------------------------------------------------- inspection
def _role(relative: str) -> str:
    if relative in FILE_ROLES:
        return FILE_ROLES[relative]
    name = Path(relative).name
    if relative.startswith("code/"):
        return "part of the entry script's code/ directory (shipped to the serving container)"
    return FILE_ROLES.get(name, "not a file Neo or the local Neo writes")


def describe_artifact(path: Path | str) -> list[dict[str, Any]]:
    """Each file of an artifact directory with its size and role, for a table in the notebooks."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"No artifact directory at {path}.")
    rows = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        size = file.stat().st_size
        rows.append({"file": relative, "bytes": size, "size": _human_size(size), "role": _role(relative)})
    return rows


def _human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"

"""The SageMaker PyTorch serving container's default handlers, for entry scripts that omit some.

Each function below restates one function of the toolkits, read from their released sources
(sagemaker-inference 1.10.1, sagemaker-pytorch-inference 2.0.25; the same code is on GitHub):

- aws/sagemaker-pytorch-inference-toolkit, src/sagemaker_pytorch_serving_container/
  default_pytorch_inference_handler.py, DefaultPytorchInferenceHandler: `default_model_fn`,
  `default_input_fn`, `default_predict_fn`, `default_output_fn`;
- aws/sagemaker-inference-toolkit, src/sagemaker_inference/decoder.py (`decode`), encoder.py
  (`encode`, `SUPPORTED_CONTENT_TYPES`), utils.py (`parse_accept`), content_types.py.

What they do, and where the local server deliberately differs:

- `default_model_fn(model_dir)`: `model.pt` if present, else the one `*.pt`/`*.pth` file in
  model_dir (none or several: ValueError "Exactly one .pth or .pt file is required for PyTorch
  models: [...]"; the toolkit tests the bare names against the working directory, which
  TorchServe sets to the model directory for its workers), loaded with `torch.jit.load` (a non-TorchScript file: ModelLoadError "Please
  ensure model is saved using torchscript") and moved `.to(device)`. The Neo PyTorch image
  loads its compiled artifact instead ("model_fn ... (Optional)" in the Neo hosting
  prerequisites); here a local Neo artifact (compiled.xml) becomes a
  `helpers.local.compiled_module.CompiledModule`, and a real Neo `compiled.pt` is loaded as
  TorchScript (after `neopytorch.config(...)` when that package exists), both checked first.
- `default_input_fn(input_data, content_type)`: `decode` by exact content type,
  application/json (`np.array(json.loads(...))`), text/csv (`np.genfromtxt(..., delimiter=",")`),
  application/x-npy (`np.load`); anything else UnsupportedFormatError. JSON and CSV become
  `torch.FloatTensor(array)`, NPY `torch.from_numpy(array)` (dtype kept), then `.to(device)`.
  Differences: the toolkit loads .npy with `allow_pickle=True`, which lets a request body run
  code; here object arrays are refused (`allow_pickle=False`). application/x-npz (a scipy sparse
  matrix that `torch.from_numpy` then rejects: a 500 either way) is not decoded.
- `default_predict_fn(data, model)`: under `torch.no_grad()`, `model.to(device)`,
  `data.to(device)`, `model.eval()`, `model(data)`; device is cuda when available, else cpu.
  (The toolkit's Elastic Inference branch, SAGEMAKER_INFERENCE_ACCELERATOR_PRESENT=true, runs
  the same call on the CPU with EI acceleration; EI is retired, so the variable is ignored.)
- `default_output_fn(prediction, accept)`: a `torch.Tensor` becomes `.detach().cpu().numpy()
  .tolist()`; the first type of the Accept list (commas split, spaces dropped, parameters kept)
  among application/json, text/csv, application/x-npy is encoded, CSV to UTF-8 bytes; none
  matching raises UnsupportedFormatError. It returns the body only, so the response's
  Content-Type is the whole Accept value (serving_toolkit.encode_response).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

# sagemaker_inference/content_types.py
JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
OCTET_STREAM = "application/octet-stream"
ANY = "*/*"
UTF8_TYPES = (JSON, CSV)  # bodies the transformer decodes to str before input_fn

DEFAULT_MODEL_FILENAME = "model.pt"  # default_pytorch_inference_handler.DEFAULT_MODEL_FILENAME
MODEL_EXTENSIONS = (".pt", ".pth")  # DefaultPytorchInferenceHandler._is_model_file
ENCODABLE_TYPES = (JSON, CSV, NPY)  # encoder.SUPPORTED_CONTENT_TYPES


class UnsupportedFormatError(Exception):
    """sagemaker_inference.errors.UnsupportedFormatError, with the toolkit's own message.

    It is *not* a BaseInferenceToolkitError, so the toolkit answers it with a 500, not a 415.
    """

    def __init__(self, content_type: str | None) -> None:
        super().__init__(
            f"Content type {content_type} is not supported by this framework. Please implement "
            "input_fn to deserialize the request data or an output_fn to serialize the response "
            f"(the default handlers take {JSON}, {CSV} and {NPY})."
        )


def parse_accept(accept: str) -> list[str]:
    """sagemaker_inference.utils.parse_accept: split on commas, drop spaces, keep parameters."""
    return accept.replace(" ", "").split(",")


class ModelLoadError(Exception):
    """default_pytorch_inference_handler.ModelLoadError: the file is not TorchScript."""


def _device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- model_fn
def default_model_fn(model_dir: str) -> Any:
    """The compiled artifact if there is one (Neo image), else the PyTorch image's TorchScript."""
    root = Path(model_dir)
    from helpers.local.compiled_module import CompiledModule, is_local_neo_artifact

    if is_local_neo_artifact(root):
        return CompiledModule(root)
    if (root / "compiled.pt").is_file():
        return _load_neo_compiled_pt(root)
    return _load_torchscript(root, _model_file(root))


def _model_file(root: Path) -> Path:
    if (root / DEFAULT_MODEL_FILENAME).exists():
        return root / DEFAULT_MODEL_FILENAME
    candidates = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix in MODEL_EXTENSIONS)
    if len(candidates) != 1:
        found = sorted(p.name for p in root.iterdir())
        raise ValueError(
            f"Exactly one .pth or .pt file is required for PyTorch models: {candidates} (the "
            "toolkit's default model_fn, used when there is no entry script or it defines no "
            f"model_fn; {root} holds {found}). Define model_fn, or package one TorchScript "
            "model.pth, or a compiled artifact (compiled.xml/.bin/.meta from the local Neo)."
        )
    return root / candidates[0]


def _load_torchscript(root: Path, path: Path) -> Any:
    import torch

    try:
        model = torch.jit.load(str(path), map_location=_device())
    except RuntimeError as exc:
        raise ModelLoadError(
            f"Failed to load {path}. Please ensure model is saved using torchscript "
            "(torch.jit.trace or torch.jit.script, then torch.jit.save)."
        ) from exc
    return model.to(_device())


def _load_neo_compiled_pt(root: Path) -> Any:  # pragma: no cover - needs a real Neo artifact
    try:
        import neopytorch  # type: ignore[import-not-found]
    except ImportError:
        neopytorch = None
    if neopytorch is not None:
        neopytorch.config(model_dir=str(root), neo_runtime=True)
    return _load_torchscript(root, root / "compiled.pt")


# --------------------------------------------------------------------------- input_fn
def decode(data: bytes | str, content_type: str | None) -> np.ndarray:
    """sagemaker_inference.decoder.decode: the exact content type picks the decoder."""
    if content_type == JSON:
        return np.array(json.loads(data))
    if content_type == CSV:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return np.genfromtxt(io.StringIO(text), delimiter=",")
    if content_type == NPY:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        return np.load(io.BytesIO(raw), allow_pickle=False)
    raise UnsupportedFormatError(content_type)


def default_input_fn(input_data: bytes | str, content_type: str | None) -> Any:
    import torch

    array = decode(input_data, content_type)
    tensor = torch.FloatTensor(array) if content_type in UTF8_TYPES else torch.from_numpy(array)
    return tensor.to(_device())


# --------------------------------------------------------------------------- predict_fn
def default_predict_fn(data: Any, model: Any) -> Any:
    import torch

    with torch.no_grad():
        device = _device()
        model = model.to(device)
        model.eval()
        return model(data.to(device))


# --------------------------------------------------------------------------- output_fn
def encode(array_like: Any, content_type: str) -> bytes | str:
    """sagemaker_inference.encoder.encode for the three types the default output_fn knows."""
    if content_type == JSON:
        return json.dumps(array_like, default=_tolist)
    if content_type == CSV:
        stream = io.StringIO()
        np.savetxt(stream, array_like, delimiter=",", fmt="%s")
        return stream.getvalue()
    if content_type == NPY:
        buffer = io.BytesIO()
        np.save(buffer, array_like)
        return buffer.getvalue()
    raise UnsupportedFormatError(content_type)


def _tolist(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def default_output_fn(prediction: Any, accept: str) -> bytes | str:
    import torch

    if type(prediction) is torch.Tensor:
        prediction = prediction.detach().cpu().numpy().tolist()
    for content_type in parse_accept(accept):
        if content_type in ENCODABLE_TYPES:
            encoded = encode(prediction, content_type)
            return encoded.encode("utf-8") if content_type == CSV else encoded
    raise UnsupportedFormatError(accept)

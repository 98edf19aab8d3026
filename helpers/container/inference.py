"""SageMaker inference entry script, shipped as `code/inference.py` inside model.tar.gz.

It runs inside a serving container (SageMaker's PyTorch or Neo image, the local model server), so
it imports nothing from `helpers`, only numpy, Pillow and the artifact's runtime. The container
calls `model_fn` once, then `input_fn` -> `predict_fn` -> `output_fn` per request.

`model_fn` loads whichever artifact sits in the model directory:
- `compiled.xml`   the local Neo's OpenVINO artifact (+ `compiled.bin`, `compiled.meta`);
- `compiled.so`    a DLR artifact (Neo with a TargetPlatform), run with `dlr`, unless this is
  Neo's PyTorch image (`neopytorch` imports) and a TorchScript file is there: that image runs it;
- TorchScript: `compiled.pt`, `model.pth` or `model.pt` (or exactly one `*.pt`/`*.pth`), the names
  real Neo has used over the years (aws/sagemaker-python-sdk tests/data/pytorch_neo/code/
  inference.py; PR #3198). In Neo's PyTorch image `neopytorch.config(model_dir=...,
  neo_runtime=True)` runs before `torch.jit.load` so Neo's operators resolve; `sample_input.pkl`,
  which Neo's artifacts carry, warms the model up.

Each request logs a `handler times` line: each handler's ms, its share of ModelLatency (for 05).

Preprocessing settings and the class names travel next to this file in `model-config.json`,
so the endpoint answers with labels. Without it (just `model.pth` + `code/inference.py`, the
layout AWS's documentation describes) it uses ImageNet defaults, says so in its log, and answers
labels for 1,000 outputs, class indices otherwise. The workshop's own preprocessing
(`helpers.images`) calls `preprocess_image` below: one implementation, no drift.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import pickle
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

CONFIG_FILE = "model-config.json"
IMAGE_TYPES = ("application/x-image", "image/jpeg", "image/png")
NPY_TYPE = "application/x-npy"
JSON_TYPE = "application/json"
SUPPORTED_TYPES = (*IMAGE_TYPES, NPY_TYPE, JSON_TYPE)
MAX_BATCH = 64
# Decoded images larger than this get a 400, far below Pillow's bomb limit (~179 MP: one 169 MP PNG
# took a model server to 1.5 GB); JPEGs decode at a reduced scale first (Pillow's `draft`).
MAX_DECODED_PIXELS = 36_000_000
TORCHSCRIPT_NAMES = ("compiled.pt", "model.pth", "model.pt")  # real Neo's names, newest last
IMAGENET_DEFAULTS = {"resize": 256, "crop": 224, "interpolation": "bilinear",
                     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
log = logging.getLogger(__name__)
log.setLevel(logging.INFO)
if not logging.getLogger().handlers:  # stdout reaches CloudWatch Logs (sagemaker/latest/dg/logging-cloudwatch.html)
    log.addHandler(logging.StreamHandler(sys.stdout))
_times = threading.local()  # the toolkit runs one request's input_fn -> predict_fn -> output_fn in one thread


def timed(function: Any) -> Any:
    """Time a handler; after output_fn, log the request's three as one line (`input_fn=3.1ms ...`)."""
    @functools.wraps(function)  # keeps the signature the toolkit inspects
    def run(*args: Any) -> Any:
        started, result = time.perf_counter(), function(*args)
        times = _times.__dict__.setdefault("ms", {})
        times[function.__name__] = (time.perf_counter() - started) * 1000
        if function.__name__ == "output_fn":
            log.info("handler times: %s", " ".join(f"{name}={ms:.3f}ms" for name, ms in times.items()))
            times.clear()
        return result
    return run

try:  # inside a SageMaker container the toolkit maps these errors to HTTP statuses
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError
except ImportError:  # pragma: no cover - depends on the container

    class _ToolkitError(Exception):  # type: ignore[no-redef]
        def __init__(self, status_code: int, message: str, phrase: str) -> None:
            super().__init__(message)
            self.status_code, self.message, self.phrase = status_code, message, phrase


class UnsupportedContentType(_ToolkitError):
    """HTTP 415: the request's Content-Type (or Accept) is not one this model understands."""

    def __init__(self, message: str) -> None:
        super().__init__(415, message, "Unsupported Media Type")


class BadRequest(_ToolkitError):
    """HTTP 400: the body has the right type but cannot be used (corrupt image, wrong shape)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message, "Bad Request")


# The serving images' Pillow and torch versions are not documented: Pillow < 9.1 has no
# `Image.Resampling` (its constants sit on `Image`), torch < 1.9 (Neo's FrameworkVersion 1.8) no
# `torch.inference_mode`. Both fallbacks compute the same numbers.
_RESAMPLE = getattr(Image, "Resampling", Image)
_RESAMPLING = {"bicubic": _RESAMPLE.BICUBIC, "bilinear": _RESAMPLE.BILINEAR}


def no_grad_mode(torch: Any) -> Any:
    """`torch.inference_mode()`, or `torch.no_grad()` in a torch older than 1.9."""
    return getattr(torch, "inference_mode", torch.no_grad)()


def preprocess_image(image: Image.Image, config: dict[str, Any]) -> np.ndarray:
    """Resize the short side, centre-crop, scale to [0, 1], normalise: float32 (3, H, W).

    Same arithmetic as torchvision's Resize(int) + CenterCrop + ToTensor + Normalize on a PIL
    image, written with numpy so the serving container needs no torchvision.
    """
    image = image.convert("RGB")
    resize, crop = int(config["resize"]), int(config["crop"])
    width, height = image.size
    if width <= height:
        new_w, new_h = resize, int(resize * height / width)
    else:
        new_w, new_h = int(resize * width / height), resize
    image = image.resize((new_w, new_h), _RESAMPLING[config.get("interpolation", "bilinear")])
    top = int(round((new_h - crop) / 2.0))
    left = int(round((new_w - crop) / 2.0))
    image = image.crop((left, top, left + crop, top + crop))
    array = np.asarray(image, dtype=np.float32) / 255.0
    mean = np.asarray(config["mean"], dtype=np.float32)
    std = np.asarray(config["std"], dtype=np.float32)
    return ((array - mean) / std).transpose(2, 0, 1).copy()


def decode_image(body: bytes, short_side: int = 0) -> Image.Image:
    """Decode JPEG/PNG bytes, turning Pillow's many failure modes into one clear 400.

    A JPEG much larger than needed is decoded at 1/2, 1/4 or 1/8 scale (`draft`: the image is
    later resized to `short_side` anyway): a 12 MP photo then decodes ~10x faster.
    """
    if not body:
        raise BadRequest("Empty request body: send the bytes of a JPEG or PNG image.")
    try:
        image = Image.open(io.BytesIO(body))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadRequest(f"Could not decode the body ({len(body)} bytes, starting {body[:8]!r}) as a JPEG or PNG image.") from exc
    if short_side and image.format == "JPEG" and min(image.size) >= 4 * short_side:
        image.draft("RGB", (short_side * image.width // min(image.size), short_side * image.height // min(image.size)))
    width, height = image.size
    if width * height > MAX_DECODED_PIXELS:
        raise BadRequest(f"Image of {width}x{height} = {width * height / 1e6:.0f} MP is larger than this "
                         f"endpoint decodes ({MAX_DECODED_PIXELS / 1e6:.0f} MP): resize it before sending.")
    try:
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadRequest(f"Could not decode the {image.format} image ({len(body)} bytes): {exc}") from exc
    return image


# --------------------------------------------------------------------------- model loading
class _Runner:
    """What every artifact kind becomes: `run(batch) -> logits`, plus a name for the answer."""

    def __init__(self, runtime: str, run: Any, config: dict[str, Any]) -> None:
        self.runtime, self._run, self.config = runtime, run, config
        self._lock = threading.Lock()  # runtimes' request objects are not thread-safe

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.asarray(self._run(batch), dtype=np.float32)


_loaded_config: dict[str, Any] = {}  # set by model_fn; the toolkit calls input_fn without the model


def _load_config(model_dir: Path) -> dict[str, Any]:
    for candidate in (model_dir / "code" / CONFIG_FILE, Path(__file__).parent / CONFIG_FILE):
        if candidate.exists():
            config = json.loads(candidate.read_text())
            break
    else:
        log.warning("No %s next to inference.py: ImageNet preprocessing defaults %s, labels only for "
                    "1,000-class models. Package the model with helpers.packaging.build_model_archive to "
                    "ship its own settings.", CONFIG_FILE, IMAGENET_DEFAULTS)
        config = {"model": None, **IMAGENET_DEFAULTS, "labels": None}
    _loaded_config.clear()
    _loaded_config.update(config)
    return dict(config)


def imagenet_labels() -> list[str] | None:
    """The 1,000 ImageNet class names from torchvision (in PyTorch images), or None without it."""
    try:
        from torchvision.models import ResNet18_Weights
    except ImportError:
        return None
    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def torch_runner(module: Any) -> Any:
    """`batch -> logits` for a torch module (eager or TorchScript), in inference mode.

    Shared with the benchmark (helpers.bench.engines), which times torch modules the same way.
    """
    import torch

    def run(batch: np.ndarray) -> np.ndarray:
        with no_grad_mode(torch):
            return module(torch.from_numpy(batch)).numpy()

    return run


def _import_neopytorch() -> Any:
    """Neo's runtime module, present only in Neo's PyTorch inference images (None elsewhere)."""
    try:
        import neopytorch  # type: ignore[import-not-found]
    except ImportError:
        return None
    return neopytorch


def _torchscript_runner(path: Path, neopytorch: Any = None) -> Any:
    """TorchScript, after Neo's runtime step when the container has it (Neo's PyTorch image)."""
    import torch

    if neopytorch is not None:
        neopytorch.config(model_dir=str(path.parent), neo_runtime=True)
    module = torch.jit.load(str(path), map_location="cpu").eval()
    _warm_up(module, path.parent / "sample_input.pkl")
    return torch_runner(module)


def _warm_up(module: Any, sample: Path) -> None:
    """Run Neo's `sample_input.pkl` once, as Neo's own entry scripts do (the first call compiles)."""
    if not sample.exists():
        return
    import torch

    try:
        with sample.open("rb") as handle:
            example = pickle.load(handle)  # written by Neo into the artifact, next to the model
        with no_grad_mode(torch):
            module(*example) if isinstance(example, tuple) else module(example)
    except Exception as exc:  # noqa: BLE001 - a warm-up must never keep the endpoint from starting
        log.warning("Warm-up with %s failed (%s): continuing without it.", sample.name, exc)


def _torchscript_file(root: Path) -> Path | None:
    """Neo's names first, then the PyTorch toolkit's rule: exactly one *.pt or *.pth at the root."""
    for name in TORCHSCRIPT_NAMES:
        if (root / name).is_file():
            return root / name
    candidates = sorted(p for p in root.glob("*.pt*") if p.suffix in (".pt", ".pth"))
    return candidates[0] if len(candidates) == 1 else None


def _openvino_runner(model_dir: Path) -> Any:
    import openvino as ov

    core = ov.Core()
    meta_path = model_dir / "compiled.meta"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    config = meta.get("runtime_config", {})
    compiled = core.compile_model(str(model_dir / "compiled.xml"), "CPU", config)
    request = compiled.create_infer_request()

    def run(batch: np.ndarray) -> np.ndarray:
        return request.infer({0: batch})[0].copy()

    return run


def _dlr_runner(model_dir: Path) -> Any:  # pragma: no cover - needs a real Neo DLR artifact
    import dlr  # type: ignore[import-not-found]

    model = dlr.DLRModel(str(model_dir), "cpu")
    return lambda batch: model.run(batch)[0]


def model_fn(model_dir: str) -> _Runner:
    """Load the artifact in `model_dir` (see the module docstring for the kinds)."""
    root = Path(model_dir)
    config = _load_config(root)
    torchscript, neopytorch = _torchscript_file(root), _import_neopytorch()
    if (root / "compiled.xml").exists():
        runner = _Runner("openvino (local Neo)", _openvino_runner(root), config)
    elif torchscript and neopytorch:  # Neo's PyTorch image: its artifact may carry other .so files
        runner = _Runner("neo-pytorch", _torchscript_runner(torchscript, neopytorch), config)
    elif (root / "compiled.so").exists():
        runner = _Runner("dlr", _dlr_runner(root), config)
    elif torchscript:
        runner = _Runner("torchscript", _torchscript_runner(torchscript), config)
    else:
        found = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        raise FileNotFoundError(
            f"No model artifact in {root} (found: {found}). Expected TorchScript ({', '.join(TORCHSCRIPT_NAMES)}) "
            "or a compiled artifact (compiled.xml, compiled.so)."
        )
    if config.get("labels") is None:
        config["labels"] = _labels_for(runner, int(config["crop"]))
    return runner


def _labels_for(runner: _Runner, crop: int) -> list[str] | None:
    """ImageNet's names for a 1,000-class model; None (answer class indices) for any other."""
    classes = runner.run(np.zeros((1, 3, crop, crop), dtype=np.float32)).shape[-1]
    labels = imagenet_labels() if classes == 1000 else None
    log.warning("No labels shipped: the model has %d outputs, answering %s.", classes,
                "ImageNet labels" if labels else "class indices")
    return labels


# --------------------------------------------------------------------------- request path
def _check_batch(array: np.ndarray, crop: int) -> np.ndarray:
    if array.ndim == 3:
        array = array[None]
    expected = (3, crop, crop)
    if array.ndim != 4 or tuple(array.shape[1:]) != expected:
        raise BadRequest(
            f"Wrong array shape {tuple(array.shape)}: expected (N, {', '.join(map(str, expected))}) "
            f"or {expected}, preprocessed like the model's training data."
        )
    if not 1 <= array.shape[0] <= MAX_BATCH:
        raise BadRequest(f"Batch of {array.shape[0]}: send between 1 and {MAX_BATCH} images.")
    if not np.issubdtype(array.dtype, np.number):
        raise BadRequest(f"Array dtype {array.dtype} is not numeric.")
    return np.ascontiguousarray(array, dtype=np.float32)


@timed
def input_fn(request_body: bytes | str, content_type: str) -> np.ndarray:
    """Turn the request body into a float32 batch (N, 3, H, W)."""
    config = _loaded_config or _load_config(Path(__file__).resolve().parent.parent)
    crop = int(config["crop"])
    content_type = (content_type or "").split(";")[0].strip().lower()
    body = request_body.encode() if isinstance(request_body, str) else request_body
    if content_type in IMAGE_TYPES:
        return preprocess_image(decode_image(body, int(config["resize"])), config)[None]
    if content_type == NPY_TYPE:
        try:
            array = np.load(io.BytesIO(body), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise BadRequest(f"Body is not a valid .npy array: {exc}") from exc
        return _check_batch(array, crop)
    if content_type == JSON_TYPE:
        try:
            payload = json.loads(body or b"null")
            data = payload["instances"] if isinstance(payload, dict) else payload
            array = np.asarray(data, dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise BadRequest(
                f'JSON body must be {{"instances": [...]}} or a nested list of numbers: {exc}'
            ) from exc
        return _check_batch(array, crop)
    raise UnsupportedContentType(
        f"Content type {content_type or '(none)'!r} is not supported: use one of "
        f"{', '.join(SUPPORTED_TYPES)}."
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


@timed
def predict_fn(batch: np.ndarray, model: _Runner) -> dict[str, Any]:
    """Run the model; keep the probabilities and who computed them."""
    return {"probabilities": softmax(model.run(batch)), "runtime": model.runtime, "config": model.config}


def top_k(probabilities: np.ndarray, labels: list[str] | None, k: int = 5) -> list[dict[str, Any]]:
    """The k most likely classes of one image, most likely first (label = class index without labels)."""
    order = np.argsort(-probabilities)[:k]
    return [
        {"class_id": int(i), "label": labels[i] if labels else str(int(i)), "probability": round(float(probabilities[i]), 6)}
        for i in order
    ]


@timed
def output_fn(prediction: dict[str, Any], accept: str | None) -> tuple[bytes, str]:
    """JSON top-5 per image (default), or the raw probabilities as .npy."""
    accept = (accept or JSON_TYPE).split(";")[0].strip().lower()
    probabilities = prediction["probabilities"]
    if accept in (JSON_TYPE, "*/*"):
        labels = prediction["config"]["labels"]
        body = {
            "model": prediction["config"].get("model"),
            "runtime": prediction["runtime"],
            "predictions": [top_k(row, labels) for row in probabilities],
        }
        return json.dumps(body).encode(), JSON_TYPE
    if accept == NPY_TYPE:
        buffer = io.BytesIO()
        np.save(buffer, probabilities.astype(np.float32))
        return buffer.getvalue(), NPY_TYPE
    raise UnsupportedContentType(f"Accept {accept!r} is not supported: use {JSON_TYPE} or {NPY_TYPE}.")


"""A local Neo artifact (OpenVINO IR) dressed as a `torch.nn.Module`, for Neo-container scripts.

On AWS, the Neo PyTorch inference image loads `compiled.pt` itself when the entry script has
no `model_fn` ("model_fn: Loads the model. (Optional)", docs.aws.amazon.com/sagemaker/latest/
dg/neo-deployment-hosting-services-prerequisites.html) and hands the script's `transform_fn` or
`predict_fn` a TorchScript module: the script calls `model(x)` or `model.forward(x)` with a torch
tensor, after `model.to(device)` / `model.eval()`, and reads `.detach().cpu().numpy()` back.

The local Neo writes OpenVINO IR instead (compiled.xml/.bin/.meta, see helpers.compiler),
so the local model server's default `model_fn` wraps it in `CompiledModule`: a real
`nn.Module` without parameters, so `eval()`, `train(False)`, `to(device)`, `cpu()`,
`requires_grad_()` and `torch.no_grad()` all work and change nothing, while `forward` runs the
compiled model through `helpers.runtime.OpenVINOModel` (the same settings as everywhere else).
The script runs unchanged and gets the compiled model's speed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers.runtime import OpenVINOModel

LOCAL_NEO_FILES = ("compiled.xml", "compiled.bin", "compiled.meta")


def is_local_neo_artifact(model_dir: Path) -> bool:
    """True when `model_dir` holds the local Neo's output (OpenVINO IR plus compiled.meta)."""
    return all((model_dir / name).is_file() for name in LOCAL_NEO_FILES)


class CompiledModule(torch.nn.Module):
    """`model(x)` / `model.forward(x)` on torch tensors, computed by the compiled artifact.

    Inputs may be torch tensors (any device or dtype: they are copied to float32 on the CPU,
    which is where the local Neo compiles for) or numpy arrays; the outputs are CPU float32
    tensors, one tensor for a single-output model, else a tuple, as the traced model returned.
    """

    def __init__(self, model_dir: Path | str) -> None:
        super().__init__()
        self.model_dir = Path(model_dir)
        self.compiled = OpenVINOModel(self.model_dir)
        self.runtime = self.compiled.runtime
        self._lock = threading.Lock()  # one infer request, shared by the server's threads
        self.eval()

    def forward(self, *inputs: Any) -> torch.Tensor | tuple[torch.Tensor, ...]:
        names = self.compiled.get_input_names()
        if len(inputs) != len(names):
            raise TypeError(
                f"The compiled model takes {len(names)} input(s) {names}, got {len(inputs)}: call "
                "model(x) with one tensor per DataInputConfig entry."
            )
        feed = {name: _to_numpy(value) for name, value in zip(names, inputs, strict=True)}
        with self._lock:
            outputs = self.compiled.run(feed)
        tensors = tuple(torch.from_numpy(np.ascontiguousarray(out)) for out in outputs)
        return tensors[0] if len(tensors) == 1 else tensors

    def extra_repr(self) -> str:
        return f"model_dir={str(self.model_dir)!r}, runtime={self.runtime!r}"


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float32).contiguous().numpy()
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value, dtype=np.float32)
    raise TypeError(
        f"The compiled model takes torch tensors (or numpy arrays), got {type(value).__name__}."
    )

"""TorchScript tracing: the model format Neo requires for PyTorch.

Neo compiles a *traced* model: `torch.jit.trace` runs the model once on an example input and
records the operators it executed, giving a graph with no Python in it. Since torch 2.9,
TorchScript is deprecated in favour of `torch.export`, and torch 2.14 warns about it; Neo still
reads only TorchScript, so the workshop traces and explains the warning.

The file is for an older torch than the one tracing (Neo's FrameworkVersion 1.8 means torch
1.8.1), so `trace_model` avoids one thing of the newer serializer that torch 1.8 cannot parse: see
`_scripted_identities`. What else decides whether Neo's torch reads it: helpers/preflight.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch


def trace_model(model: torch.nn.Module, example: torch.Tensor, path: Path) -> torch.jit.ScriptModule:
    """Trace `model` on `example`, save it to `path` and return the reloaded TorchScript module.

    Reloading (rather than returning the in-memory trace) checks exactly what Neo will read.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.*")
        with torch.inference_mode(), _scripted_identities(model):
            traced = torch.jit.trace(model.eval(), example, check_trace=False)
        traced.save(str(path))
        return torch.jit.load(str(path), map_location="cpu").eval()


@contextmanager
def _scripted_identities(model: torch.nn.Module) -> Iterator[int]:
    """While tracing, every `nn.Identity` of `model` is a scripted one; afterwards the originals.

    The tracer records a submodule that returns its input untouched as `def forward(self) ->
    NoneType: return None`. torch 1.8.1 writes that type `None`; 2.0.1 and later write `NoneType`,
    a name torch 1.8.1 does not parse: loading fails with "Unknown type name 'NoneType'" (both
    measured here; reported for torch 1.7.1 in FacePerceiver/facer#1). A scripted Identity is recorded as
    `forward(self, input: Tensor) -> Tensor`, which every torch reads; the graph, inlined, is the
    same. The eager model stays plain Python (torch.compile and torch.export need that).
    """
    swapped = [(name, module) for name, module in model.named_modules() if name and type(module) is torch.nn.Identity]
    for name, _ in swapped:
        _set_submodule(model, name, torch.jit.script(torch.nn.Identity()))
    try:
        yield len(swapped)
    finally:
        for name, module in swapped:
            _set_submodule(model, name, module)


def _set_submodule(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, module)


def compare(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float | bool]:
    """How far `candidate` probabilities are from `reference`: max |Δprob| and top-1 agreement."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"Cannot compare outputs of shapes {reference.shape} and {candidate.shape}.")
    return {
        "max_abs_dprob": float(np.abs(reference - candidate).max()),
        "top1_agree": float(np.mean(reference.argmax(-1) == candidate.argmax(-1))),
    }

"""TorchScript tracing: the model format Neo requires for PyTorch.

Neo compiles a *traced* model: `torch.jit.trace` runs the model once on an example input and
records the operators it executed, giving a graph with no Python in it. Since torch 2.9,
TorchScript is deprecated in favour of `torch.export`, and torch 2.14 warns about it; Neo still
reads only TorchScript, so the workshop traces and explains the warning.

A trace is for one input shape, and it should say so: a graph that reads its input's shape at
run time (`aten::size`) and computes with it leaves arithmetic for Neo's compiler to fold into
constants, which older TVM frontends fail on (`shape_operators` finds such nodes; the
pre-flight warns about them).
"""

from __future__ import annotations

import warnings
from collections import Counter
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
        with torch.inference_mode():
            traced = torch.jit.trace(model.eval(), example, check_trace=False)
        traced.save(str(path))
        return torch.jit.load(str(path), map_location="cpu").eval()


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


# The operators that read a tensor's shape at run time: a graph that calls them computes shapes
# (pads, reshapes) that Neo's compiler must fold into constants.
SHAPE_OPERATORS = frozenset({"aten::size", "aten::sym_size", "aten::numel", "aten::sym_numel"})


def node_kinds(block: object) -> Counter[str]:
    """How many nodes of each kind (`aten::conv2d`, `prim::Constant`...) a graph has, inner blocks included."""
    kinds: Counter[str] = Counter()
    for node in block.nodes():  # type: ignore[attr-defined]
        kinds[node.kind()] += 1
        for inner in node.blocks():
            kinds += node_kinds(inner)
    return kinds


def shape_operators(module: torch.jit.ScriptModule) -> Counter[str]:
    """The shape-reading nodes in `module`'s inlined forward graph (submodules' graphs included)."""
    kinds = node_kinds(module.inlined_graph)
    return Counter({kind: count for kind, count in kinds.items() if kind in SHAPE_OPERATORS})

"""Stand-in for `neopytorch`, Neo's runtime module inside its PyTorch inference images.

Real Neo-compiled TorchScript holds Neo's own operators; `neopytorch.config(model_dir=...,
neo_runtime=True)` must run before `torch.jit.load` so they resolve (aws/sagemaker-python-sdk
tests/data/pytorch_neo/code/inference.py). The aws-fidelity stand-in puts this directory on the
PYTHONPATH of model servers whose image is a Neo image, so entry scripts meet the same step; this
version checks the call's shape, records it and says so in the model server's log.
"""

from __future__ import annotations

import logging
from pathlib import Path

calls: list[dict[str, object]] = []


def config(model_dir: str, neo_runtime: bool = False, **kwargs: object) -> None:
    """Record the call the way a test can check it; refuse what Neo's would not take."""
    if not Path(model_dir).is_dir():
        raise ValueError(f"neopytorch.config: model_dir {model_dir!r} is not a directory")
    calls.append({"model_dir": model_dir, "neo_runtime": neo_runtime, **kwargs})
    logging.getLogger("neopytorch").warning("stand-in neopytorch.config(model_dir=%r, neo_runtime=%r)",
                                            model_dir, neo_runtime)

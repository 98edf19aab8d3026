"""TVM's IR for one block of the model, before and after operator fusion (optional, side check).

Neo's compiler for generic targets is Apache TVM; the Relay IR the Neo papers describe has since
been replaced in TVM by **Relax** (TVM >= 0.20 ships Relax only). This module imports one block
of the model into Relax (`from_exported_program`, via `torch.export`) and runs the passes that
fold batch norms into convolutions and fuse element-wise operators into their producers, so the
notebook can print the IR before and after.

`apache-tvm` is not a dependency of the workshop (the wheel is 100 MB, 317 MB installed, for a
side view): notebook 02 shows this only where it is installed and otherwise says how. Measured on the workshop VM: importing tvm ~2.6 s, importing a
block ~1.4 s, the fusion passes ~1-2 s.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

TVM_REQUIREMENT = "apache-tvm==0.27.0.post1"  # the version this module was written and measured with
INSTALL_HINT = f"pip install {TVM_REQUIREMENT}  (a 100 MB wheel, 317 MB installed)"


def tvm_version() -> str | None:
    """The installed apache-tvm version, or None when TVM is not installed."""
    if importlib.util.find_spec("tvm") is None:
        return None
    try:
        return metadata.version("apache-tvm")
    except metadata.PackageNotFoundError:
        return "unknown (tvm built from source)"


def example_block(model: Any) -> Any:
    """One block of `model` to look at: EfficientNet's stage 1, first block (an inverted residual,
    the one notebook 02 describes), or for any other network the first innermost module holding
    at least two convolutions and a batch norm (a ResNet basic block, a MobileNet bottleneck)."""
    import torch

    if hasattr(model, "blocks"):
        return model.blocks[1][0]

    def is_block(module: Any) -> bool:
        parts = list(module.modules())
        return (sum(isinstance(m, torch.nn.Conv2d) for m in parts) >= 2
                and any(isinstance(m, torch.nn.BatchNorm2d) for m in parts))

    for module in model.modules():
        if module is not model and is_block(module) and not any(is_block(child) for child in module.children()):
            return module
    raise ValueError(f"No block with two convolutions and a batch norm found in {type(model).__name__}.")


def block_input(model: Any, block: Any, input_shape: list[int]) -> Any:
    """The tensor `block` receives when `model` runs on zeros of `input_shape` (to export it alone)."""
    import torch

    captured: list[Any] = []
    handle = block.register_forward_pre_hook(lambda _module, args: captured.append(args[0].detach()))
    try:
        with torch.inference_mode():
            model(torch.zeros(input_shape))
    finally:
        handle.remove()
    if not captured:
        raise ValueError("The block never ran in the model's forward pass: pick a module the model calls.")
    return captured[0].clone()


@dataclass
class RelaxView:
    """The block's Relax IR before and after fusion, the calls in each, and what each step took."""

    before: str
    after: str
    calls_before: list[str]
    calls_after: list[str]
    seconds: dict[str, float] = field(default_factory=dict)


def _calls(function: Any) -> list[str]:
    """The operators a Relax function calls, in order: `nn.conv2d`, ... or the fused kernels' names."""
    from tvm import relax

    names = []
    for block in function.body.blocks:
        for binding in block.bindings:
            value = binding.value
            if not isinstance(value, relax.Call):
                continue
            if isinstance(value.op, relax.GlobalVar):
                names.append(value.op.name_hint)
            elif value.op.name == "relax.call_tir":
                names.append(value.args[0].name_hint)
            else:
                names.append(value.op.name.removeprefix("relax."))
    return names


def relax_before_after(block: Any, example: Any) -> RelaxView:
    """Import `block` into Relax and fuse it the way TVM's default CPU pipeline does.

    Passes (all in tvm.relax.transform): FoldBatchnormToConv2D folds each batch norm into the
    preceding convolution's weights and a bias add; DecomposeOpsForInference and
    LegalizeOps lower what is left to TIR; AnnotateTIROpPattern + FuseOps group each
    convolution with the element-wise operators after it; FuseTIR merges each group into one
    kernel (`fused_conv2d_add_clip...`).
    """
    import torch

    started = time.perf_counter()
    import tvm
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    seconds = {"import tvm": time.perf_counter() - started}
    started = time.perf_counter()
    exported = torch.export.export(block.eval(), (example,))
    module = from_exported_program(exported, keep_params_as_input=False)
    seconds["torch.export + import to Relax"] = time.perf_counter() - started
    started = time.perf_counter()
    passes = tvm.ir.transform.Sequential([
        relax.transform.FoldBatchnormToConv2D(),
        relax.transform.DecomposeOpsForInference(),
        relax.transform.FoldConstant(),
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ])
    with tvm.transform.PassContext(opt_level=3):
        fused = passes(module)
    seconds["fusion passes"] = time.perf_counter() - started
    return RelaxView(
        before=module["main"].script(),
        after=fused["main"].script(),
        calls_before=_calls(module["main"]),
        calls_after=_calls(fused["main"]),
        seconds={k: round(v, 2) for k, v in seconds.items()},
    )

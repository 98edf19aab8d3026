"""TVM's Relax IR before and after fusion (optional for attendees; `make test` installs apache-tvm
and sets NEO_WORKSHOP_REQUIRE_TVM, so CI runs these instead of skipping them)."""

from __future__ import annotations

import os

import pytest

from helpers import relax_view


def test_tvm_absence_is_reported_not_raised():
    version = relax_view.tvm_version()
    assert version is None or version
    assert "pip install" in relax_view.INSTALL_HINT


@pytest.mark.slow
def test_fusion_folds_batch_norms_and_fuses_each_convolution_with_what_follows():
    if not os.environ.get("NEO_WORKSHOP_REQUIRE_TVM"):
        pytest.importorskip("tvm", reason=f"optional: {relax_view.INSTALL_HINT}")
    assert relax_view.tvm_version(), f"make test installs apache-tvm (`make tvm`): {relax_view.INSTALL_HINT}"
    import torch

    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 1, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU6(),
                                torch.nn.Conv2d(8, 8, 3, groups=8, padding=1, bias=False), torch.nn.BatchNorm2d(8))
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), block).eval()
    example = relax_view.block_input(model, block, [1, 3, 10, 10])
    assert list(example.shape) == [1, 4, 8, 8]

    view = relax_view.relax_before_after(block, example)
    assert view.calls_before.count("nn.batch_norm") == 2 and view.calls_before.count("nn.conv2d") == 2
    assert len(view.calls_after) == 2 and all(name.startswith("fused_conv2d") for name in view.calls_after)
    assert "R.nn.batch_norm" in view.before and "batch_norm" not in view.after
    assert set(view.seconds) == {"import tvm", "torch.export + import to Relax", "fusion passes"}


def test_block_input_refuses_a_module_the_model_never_calls():
    import torch

    model = torch.nn.Sequential(torch.nn.Identity())
    with pytest.raises(ValueError, match="never ran"):
        relax_view.block_input(model, torch.nn.ReLU(), [1, 2])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18", "mobilenet_v2", "mnasnet1_0"])
def test_example_block_exists_for_every_zoo_model(name):
    """Notebook 02's TVM view picks a block of whichever model notebook 01 traced, not only EfficientNet's."""
    import warnings

    import torch

    from helpers.models import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # offline torchvision weights: random init, said elsewhere
        model, spec = load_model(name)
    block = relax_view.example_block(model)
    parts = list(block.modules())
    assert sum(isinstance(m, torch.nn.Conv2d) for m in parts) >= 2
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in parts)
    assert relax_view.block_input(model, block, list(spec.input_shape)).dim() == 4
    if name == "efficientnet_lite0":
        assert block is model.blocks[1][0]

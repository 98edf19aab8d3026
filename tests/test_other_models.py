"""Your own model through the workshop: notebook 01's other MODEL_NAME choices (issue 10, item 8).

The notebooks are written around EfficientNet-Lite0 (real weights, offline); a user picks
another classifier in notebook 01's parameters cell and expects notebooks 02-05 to follow. The
slow test runs all six headlessly with ResNet-18 (weights the workshop does not ship: offline
it starts from random weights), its parameters injected the way papermill does it, so the
notebooks themselves stay unchanged: that run is tests/test_core_path.py's (the core path alone).
"""

from __future__ import annotations

import warnings

import nbformat
import pytest
import torch

from helpers import runner


def notebook_with_parameters(source: str) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_markdown_cell("# title"),
             nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell("print(MODEL_NAME)")]
    return nbformat.v4.new_notebook(cells=cells)


def test_parameters_are_injected_after_the_parameters_cell():
    notebook = notebook_with_parameters('MODEL_NAME = "efficientnet_lite0"  # or resnet18\nREPEATS = 50')
    names = runner.inject_parameters(notebook, {"MODEL_NAME": "resnet18", "ENGINES": ("eager",), "REPEATS": 5})
    assert names == ["MODEL_NAME", "REPEATS"]  # ENGINES: not a parameter of this notebook
    injected = notebook.cells[2]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert "MODEL_NAME = 'resnet18'\nREPEATS = 5" in injected.source
    assert notebook.cells[3].source == "print(MODEL_NAME)"


def test_a_notebook_without_those_parameters_is_left_alone():
    notebook = notebook_with_parameters('BACKEND = "local"')
    assert runner.inject_parameters(notebook, {"MODEL_NAME": "resnet18"}) == []
    assert len(notebook.cells) == 3


@pytest.mark.parametrize(("text", "value"), [("resnet18", "resnet18"), ("5", 5), ("('eager', 'neo-local')", ("eager", "neo-local")),
                                             ("True", True)])
def test_cli_parameter_values_are_python_literals_or_text(text, value):
    assert runner.parameter_value(text) == value


@pytest.mark.slow
def test_random_weights_still_answer_differently_per_image():
    """Offline torchvision models start from random weights; their batch-norm statistics are
    calibrated so that the answer depends on the image (a fresh MobileNetV2 answers the same
    probabilities for everything, which makes compiled-vs-eager top-1 checks a coin toss)."""
    from helpers.models import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = load_model("mobilenet_v2")
    generator = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        probabilities = torch.softmax(model(torch.randn(2, 3, 224, 224, generator=generator)), -1)
    assert (probabilities[0] - probabilities[1]).abs().max() > 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v2", "mnasnet1_0", "shufflenet_v2_x0_5", "efficientnet_b3"])
def test_other_classifiers_trace_compile_and_match_eager(name, tmp_path):
    """What notebooks 01, 02 and 04 do with a model, for notebook 01's other suggestions and for a
    torchvision classifier the workshop does not list (shufflenet_v2_x0_5; efficientnet_b3, which
    wants 300x300 crops resized with bicubic, read from its weights): trace, compile with the
    local Neo, run the artifact the DLR way, same answers as eager. (resnet18 goes through the core
    path of every notebook in tests/test_core_path.py; after the compile step, nothing in the
    notebooks depends on the model.)"""
    import numpy as np

    from helpers.compiler import compile_torchscript
    from helpers.container.inference import softmax
    from helpers.images import batch_of, sample_images
    from helpers.models import AVAILABLE_MODELS, load_model, predict_probabilities
    from helpers.runtime import load_compiled_model
    from helpers.tracing import compare, trace_model

    assert (name in AVAILABLE_MODELS) == (name in ("mobilenet_v2", "mnasnet1_0"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # offline: random weights, said loudly (tested in test_models)
        model, spec = load_model(name)
    images = batch_of(sample_images(), spec)
    traced = trace_model(model, torch.from_numpy(images[:1]), tmp_path / "model.pth")
    eager = predict_probabilities(model, torch.from_numpy(images)).numpy()
    assert compare(eager, predict_probabilities(traced, torch.from_numpy(images)).numpy())["top1_agree"] == 1.0

    compile_torchscript(tmp_path / "model.pth", {"input0": list(spec.input_shape)}, tmp_path / "compiled")
    compiled = load_compiled_model(tmp_path / "compiled")
    candidate = softmax(np.concatenate([compiled.run(image[None])[0] for image in images]))
    result = compare(eager, candidate)
    assert result["max_abs_dprob"] <= 1e-3 and result["top1_agree"] == 1.0, result


def test_a_classifier_without_batch_norm_is_refused_with_the_reason():
    from helpers.models import load_model, torchvision_classifiers

    assert "squeezenet1_1" in torchvision_classifiers()
    with warnings.catch_warnings(), pytest.raises(ValueError, match="has no batch norm.*resnet"):
        warnings.simplefilter("ignore")
        load_model("squeezenet1_1")


def test_a_torchvision_model_takes_the_preprocessing_its_weights_were_trained_with():
    from helpers.models import _imagenet_weights, _torchvision_spec

    spec = _torchvision_spec("efficientnet_b3", _imagenet_weights("efficientnet_b3"))
    assert (spec.resize, spec.crop, spec.interpolation, spec.input_shape) == (320, 300, "bicubic", (1, 3, 300, 300))
    assert _torchvision_spec("resnet18", _imagenet_weights("resnet18")).input_shape == (1, 3, 224, 224)

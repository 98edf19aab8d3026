"""The inference entry script (code/inference.py), called the way a SageMaker container does."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from helpers import packaging
from helpers.container import inference
from helpers.images import sample_images


@pytest.fixture(scope="module")
def model(model_archive, tmp_path_factory):
    model_dir = packaging.safe_extract(model_archive, tmp_path_factory.mktemp("model"))
    return inference.model_fn(str(model_dir))


def _answer(model, body, content_type, accept="application/json"):
    return inference.output_fn(inference.predict_fn(inference.input_fn(body, content_type), model), accept)


def test_jpeg_gives_a_cat_in_json(model):
    body, content_type = _answer(model, sample_images()[0].read_bytes(), "application/x-image")
    answer = json.loads(body)
    assert content_type == "application/json" and answer["runtime"] == "torchscript"
    assert answer["predictions"][0][0]["label"] in {"tiger cat", "Egyptian cat", "tabby"}
    assert len(answer["predictions"][0]) == 5


def test_png_and_npy_agree(model):
    image = Image.open(sample_images()[0])
    png = io.BytesIO()
    image.save(png, format="PNG")
    from_png, _ = _answer(model, png.getvalue(), "image/png", "application/x-npy")
    array = inference.input_fn(png.getvalue(), "image/png")
    npy = io.BytesIO()
    np.save(npy, array)
    from_npy, content_type = _answer(model, npy.getvalue(), "application/x-npy", "application/x-npy")
    assert content_type == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(from_png)), np.load(io.BytesIO(from_npy)), atol=1e-6)


def test_json_instances(model):
    array = np.zeros((2, 3, 224, 224), dtype=np.float32)
    body, _ = _answer(model, json.dumps({"instances": array.tolist()}), "application/json")
    assert len(json.loads(body)["predictions"]) == 2


@pytest.mark.parametrize("content_type", ["text/csv", "", "application/octet-stream"])
def test_unsupported_content_type_is_415(model, content_type):
    with pytest.raises(inference.UnsupportedContentType) as info:
        inference.input_fn(b"x", content_type)
    assert info.value.status_code == 415


def test_unsupported_accept_is_415(model):
    batch = inference.input_fn(sample_images()[0].read_bytes(), "image/jpeg")
    with pytest.raises(inference.UnsupportedContentType):
        inference.output_fn(inference.predict_fn(batch, model), "text/html")


@pytest.mark.parametrize("body, content_type, message", [
    (b"", "application/x-image", "Empty"),
    (b"\xff\xd8 not really a jpeg", "image/jpeg", "decode"),
    (b"not npy", "application/x-npy", "npy"),
    (b"{not json", "application/json", "JSON"),
])
def test_undecodable_bodies_are_400(model, body, content_type, message):
    with pytest.raises(inference.BadRequest, match=message) as info:
        inference.input_fn(body, content_type)
    assert info.value.status_code == 400


@pytest.mark.parametrize("shape", [(1, 224, 224, 3), (3, 100, 100), (224, 224), (0, 3, 224, 224)])
def test_wrong_array_shape_is_400_naming_the_shape(model, shape):
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(shape, dtype=np.float32))
    with pytest.raises(inference.BadRequest, match="shape|Batch"):
        inference.input_fn(buffer.getvalue(), "application/x-npy")


def test_model_dir_without_artifact_lists_what_it_found(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "model-config.json").write_text("{}")
    (tmp_path / "readme.txt").write_text("")
    with pytest.raises(FileNotFoundError, match="readme.txt"):
        inference.model_fn(str(tmp_path))


def test_softmax_is_stable():
    probabilities = inference.softmax(np.array([[1000.0, 0.0]]))
    assert np.isfinite(probabilities).all() and probabilities[0, 0] == pytest.approx(1.0)


# --------------------------------------------------------------------------- real Neo layouts (issue 8)
def neo_layout(traced_model_file, tmp_path, name: str, with_config: bool = True, model_archive=None):
    """A model directory laid out like a real Neo output: the TorchScript under `name`."""
    import shutil

    model_dir = tmp_path / name.replace(".", "-")
    (model_dir / "code").mkdir(parents=True)
    shutil.copy(traced_model_file, model_dir / name)
    shutil.copy(inference.__file__, model_dir / "code" / "inference.py")
    if with_config:
        config = packaging.read_archive_config(model_archive)
        (model_dir / "code" / inference.CONFIG_FILE).write_text(json.dumps(config))
    return model_dir


@pytest.mark.parametrize("name", ["compiled.pt", "model.pth", "model.pt", "resnet-ish.pt"])
def test_every_name_real_neo_has_used_loads(traced_model_file, model_archive, tmp_path, name):
    model = inference.model_fn(str(neo_layout(traced_model_file, tmp_path, name, model_archive=model_archive)))
    body, _ = _answer(model, sample_images()[0].read_bytes(), "application/x-image")
    assert json.loads(body)["predictions"][0][0]["label"] in {"tiger cat", "Egyptian cat", "tabby"}


def test_two_candidate_model_files_are_refused_by_name(traced_model_file, model_archive, tmp_path):
    model_dir = neo_layout(traced_model_file, tmp_path, "a.pt", model_archive=model_archive)
    (model_dir / "b.pth").write_bytes((model_dir / "a.pt").read_bytes())
    with pytest.raises(FileNotFoundError, match="a.pt"):
        inference.model_fn(str(model_dir))


def test_neopytorch_configures_before_the_load_and_sample_input_warms_up(
        traced_model_file, model_archive, tmp_path, monkeypatch):
    """In Neo's PyTorch image, neopytorch.config(model_dir=..., neo_runtime=True) comes first."""
    import pickle
    import sys
    import types

    import torch

    calls = []
    fake = types.ModuleType("neopytorch")
    fake.config = lambda **kwargs: calls.append(kwargs)
    monkeypatch.setitem(sys.modules, "neopytorch", fake)
    model_dir = neo_layout(traced_model_file, tmp_path, "model.pth", model_archive=model_archive)
    (model_dir / "sample_input.pkl").write_bytes(pickle.dumps(torch.zeros(1, 3, 224, 224)))
    model = inference.model_fn(str(model_dir))
    assert calls == [{"model_dir": str(model_dir), "neo_runtime": True}]
    assert model.runtime == "neo-pytorch"


def test_a_broken_sample_input_does_not_stop_the_endpoint(traced_model_file, model_archive, tmp_path, caplog):
    model_dir = neo_layout(traced_model_file, tmp_path, "compiled.pt", model_archive=model_archive)
    (model_dir / "sample_input.pkl").write_bytes(b"not a pickle")
    assert inference.model_fn(str(model_dir)).runtime == "torchscript"
    assert "Warm-up with sample_input.pkl failed" in caplog.text


# --------------------------------------------------------------------------- your own model (issue 10, item 8)
def test_archive_without_model_config_serves_with_imagenet_defaults(traced_model_file, tmp_path, caplog):
    model_dir = neo_layout(traced_model_file, tmp_path, "model.pth", with_config=False)
    model = inference.model_fn(str(model_dir))
    assert "ImageNet preprocessing defaults" in caplog.text
    answer = json.loads(_answer(model, sample_images()[0].read_bytes(), "application/x-image")[0])
    assert answer["predictions"][0][0]["label"] in {"tiger cat", "Egyptian cat", "tabby"}


def test_a_model_without_1000_classes_answers_class_indices(tmp_path):
    import shutil

    import torch

    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 10)).eval()
    model_dir = tmp_path / "ten"
    (model_dir / "code").mkdir(parents=True)
    torch.jit.trace(net, torch.zeros(1, 3, 224, 224)).save(str(model_dir / "model.pth"))
    shutil.copy(inference.__file__, model_dir / "code" / "inference.py")
    model = inference.model_fn(str(model_dir))
    answer = json.loads(_answer(model, sample_images()[1].read_bytes(), "image/jpeg")[0])
    assert {row["label"] for row in answer["predictions"][0]} <= {str(i) for i in range(10)}


# --------------------------------------------------------------------------- memory (issue 10, item 7)
def test_an_image_too_large_to_decode_is_a_clear_400():
    big = io.BytesIO()
    Image.new("1", (8000, 5000)).save(big, format="PNG")  # 40 MP, a few KB on the wire
    with pytest.raises(inference.BadRequest, match="8000x5000 = 40 MP"):
        inference.decode_image(big.getvalue(), 256)


def test_a_large_jpeg_is_decoded_at_reduced_scale():
    photo = io.BytesIO()
    Image.new("RGB", (4000, 3000), (120, 80, 40)).save(photo, format="JPEG")
    image = inference.decode_image(photo.getvalue(), 256)
    assert min(image.size) >= 256 and image.size[0] <= 1000, image.size


def test_not_an_image_says_what_it_got_not_an_object_address():
    with pytest.raises(inference.BadRequest) as error:
        inference.decode_image(b"GIF89a-not-really", 256)
    assert "BytesIO" not in str(error.value) and "b'GIF89a-n'" in str(error.value)


# --------------------------------------------------------------------------- older serving images (Neo's 1.8)
def test_an_old_pillow_without_resampling_preprocesses_identically(monkeypatch):
    """Pillow < 9.1 has no Image.Resampling: the entry script falls back to Image.BICUBIC etc."""
    import importlib.util

    import PIL.Image

    photo = Image.open(sample_images()[0])
    config = {"resize": 256, "crop": 224, "interpolation": "bicubic", "mean": [0.5] * 3, "std": [0.5] * 3}
    expected = inference.preprocess_image(photo, config)
    monkeypatch.delattr(PIL.Image, "Resampling")
    spec = importlib.util.spec_from_file_location("inference_old_pillow", inference.__file__)
    old_pillow = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old_pillow)
    monkeypatch.undo()  # Pillow itself needs Resampling back; the module keeps what it found
    assert old_pillow._RESAMPLE is PIL.Image
    np.testing.assert_array_equal(old_pillow.preprocess_image(photo, config), expected)


def test_a_torch_without_inference_mode_runs_under_no_grad(traced_model_file, monkeypatch):
    """torch < 1.9 (Neo's FrameworkVersion 1.8 images) has no torch.inference_mode."""
    import torch

    module = torch.jit.load(str(traced_model_file)).eval()
    batch = np.zeros((1, 3, 224, 224), dtype=np.float32)
    expected = inference.torch_runner(module)(batch)
    monkeypatch.delattr(torch, "inference_mode")
    with inference.no_grad_mode(torch):
        assert not torch.is_grad_enabled()
    np.testing.assert_array_equal(inference.torch_runner(module)(batch), expected)


# --------------------------------------------------------------------------- which file first (issue 20, item 2)
@pytest.fixture
def neopytorch_on_path(tmp_path, monkeypatch):
    """A fake `neopytorch` module on sys.path, as Neo's PyTorch image has the real one; forgotten afterwards."""
    import sys

    site = tmp_path / "site"
    site.mkdir()
    (site / "neopytorch.py").write_text("calls = []\n\ndef config(**kwargs):\n    calls.append(kwargs)\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("neopytorch", None)


def test_neo_s_pytorch_image_serves_the_torchscript_beside_a_compiled_so(
        traced_model_file, model_archive, tmp_path, neopytorch_on_path, monkeypatch):
    monkeypatch.setattr(inference, "_dlr_runner", lambda root: pytest.fail("went the DLR way"))
    model_dir = neo_layout(traced_model_file, tmp_path, "model.pth", model_archive=model_archive)
    (model_dir / "compiled.so").write_bytes(b"\x7fELF a side library of the artifact")
    model = inference.model_fn(str(model_dir))
    assert model.runtime == "neo-pytorch"
    import sys

    assert sys.modules["neopytorch"].calls == [{"model_dir": str(model_dir), "neo_runtime": True}]
    answer = json.loads(_answer(model, sample_images()[0].read_bytes(), "application/x-image")[0])
    assert answer["runtime"] == "neo-pytorch"


def test_compiled_so_goes_the_dlr_way_without_neopytorch_or_without_torchscript(
        traced_model_file, model_archive, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "neopytorch", None)  # `import neopytorch` raises ImportError
    monkeypatch.setattr(inference, "_dlr_runner", lambda root: lambda batch: np.zeros((len(batch), 1000)))
    both = neo_layout(traced_model_file, tmp_path / "both", "model.pth", model_archive=model_archive)
    (both / "compiled.so").write_bytes(b"\x7fELF")
    assert inference.model_fn(str(both)).runtime == "dlr"
    monkeypatch.setitem(sys.modules, "neopytorch", __import__("types").ModuleType("neopytorch"))
    only_so = tmp_path / "only-so"
    only_so.mkdir()
    (only_so / "compiled.so").write_bytes(b"\x7fELF")
    assert inference.model_fn(str(only_so)).runtime == "dlr"

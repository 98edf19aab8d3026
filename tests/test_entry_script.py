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

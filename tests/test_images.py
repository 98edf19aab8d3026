"""Preprocessing matches torchvision's, and bad images fail with errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from helpers import images
from helpers.models import ModelSpec

SPEC = ModelSpec(name="t", interpolation="bicubic", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def test_samples_are_sorted_real_photos():
    paths = images.sample_images()
    assert [p.name for p in paths] == sorted(p.name for p in paths)
    assert {p.stem for p in paths} >= {"chelsea", "coffee"}


def test_preprocess_shape_dtype_and_range():
    array = images.preprocess(images.sample_images()[0], SPEC)
    assert array.shape == (3, 224, 224) and array.dtype == np.float32
    assert array.min() >= -1.0 and array.max() <= 1.0


@pytest.mark.parametrize("size", [(451, 300), (300, 451), (224, 224), (1000, 250)])
def test_preprocess_equals_torchvision(size):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    reference = transforms.Compose([
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224), transforms.ToTensor(), transforms.Normalize(SPEC.mean, SPEC.std),
    ])(image)
    np.testing.assert_allclose(images.preprocess(image, SPEC), reference.numpy(), atol=1e-5)


def test_batch_of_stacks():
    batch = images.batch_of(images.sample_images()[:2], SPEC)
    assert batch.shape == (2, 3, 224, 224)
    assert torch.from_numpy(batch).dtype == torch.float32


def test_missing_image_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        images.load_image(tmp_path / "nope.jpg")


def test_corrupt_image_names_the_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(images.sample_images()[0].read_bytes()[:500])
    with pytest.raises(ValueError, match="broken.jpg"):
        images.load_image(broken)


def test_not_an_image_names_the_file(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.png"):
        images.preprocess(text, SPEC)


def test_cli_predict_reports_bad_file(capsys, tmp_path):
    from helpers.cli import main

    assert main(["predict", str(tmp_path / "missing.jpg")]) == 2
    assert "missing.jpg" in capsys.readouterr().err

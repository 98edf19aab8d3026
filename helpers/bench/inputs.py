"""The inputs agreement with eager is measured on: hundreds of variants of the shipped photos.

Three photos say little about whether a compiled or bf16 model changes answers: a label flips
only where two classes are close, which three well-framed photos rarely are. So every engine is
compared with eager on AGREEMENT_INPUTS images made from the photos in `data/` by crops, flips,
scales and brightness changes: deterministic (the same list on every run and machine, no random
numbers), generated here, nothing downloaded. Each variant then goes through the entry script's
own preprocessing (`preprocess_image`), like any request.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from helpers.container.inference import preprocess_image
from helpers.images import load_image
from helpers.models import ModelSpec

AGREEMENT_INPUTS = 240  # at least 200 (issue 19); a multiple of 8, so batch-8 chunks need no padding
CROPS = ((0.5, 0.5, 1.0), (0.3, 0.3, 0.7), (0.7, 0.3, 0.7), (0.3, 0.7, 0.7), (0.7, 0.7, 0.7))  # centre x, y, side
SCALES = (1.0, 0.6, 1.5, 0.35)  # resize factor before preprocessing (0.35: upscaled back from a small image)
BRIGHTNESS = (1.0, 0.6, 1.4, 0.8)
FLIPS = (False, True)
STRIDE = 37  # coprime with the 160 settings: consecutive inputs of a photo spread over all of them


def variant(image: Image.Image, crop: tuple[float, float, float], scale: float, brightness: float,
            flip: bool) -> Image.Image:
    """One transformed copy: a square crop around (x, y) of `side` x the short side (1.0: the whole
    photo), scaled, brightened (1.0 = unchanged), mirrored."""
    x, y, side = crop
    width, height = image.size
    size = side * min(width, height)
    left = min(max(x * width - size / 2, 0), width - size)
    top = min(max(y * height - size / 2, 0), height - size)
    out = image.crop((round(left), round(top), round(left + size), round(top + size))) if side < 1.0 else image
    if scale != 1.0:
        out = out.resize((max(8, round(out.width * scale)), max(8, round(out.height * scale))), Image.BILINEAR)
    if brightness != 1.0:
        out = ImageEnhance.Brightness(out).enhance(brightness)
    return ImageOps.mirror(out) if flip else out


def agreement_images(paths: list[Path], spec: ModelSpec, count: int = AGREEMENT_INPUTS) -> np.ndarray:
    """`count` preprocessed variants (float32, N x 3 x H x W), taken in turn from each photo."""
    if not paths:
        raise ValueError("No sample photos to make agreement inputs from: data/ should hold the workshop's photos.")
    config = spec.preprocess_config()
    photos = [load_image(path) for path in paths]
    settings = list(itertools.product(CROPS, SCALES, BRIGHTNESS, FLIPS))  # 160 per photo
    arrays = []
    for index in range(count):
        photo = photos[index % len(photos)]
        crop, scale, brightness, flip = settings[(index // len(photos) * STRIDE) % len(settings)]  # first: the photo as is
        arrays.append(preprocess_image(variant(photo, crop, scale, brightness, flip), config))
    return np.stack(arrays)

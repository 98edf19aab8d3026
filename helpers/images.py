"""Sample photos and preprocessing.

The photos in `data/` are committed (CC0, from scikit-image; see data/ATTRIBUTION.md): nothing
is fetched at run time. Preprocessing is the entry script's own `preprocess_image`, so the
notebook, the benchmark and the endpoint feed the model exactly the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from helpers.container.inference import preprocess_image
from helpers.models import ModelSpec
from helpers.paths import DATA_DIR

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def sample_images(directory: Path = DATA_DIR) -> list[Path]:
    """The workshop's sample photos, sorted so every run sees them in the same order."""
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path: str | Path) -> Image.Image:
    """Open an image fully, or raise an error that names the file and what to do."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image not found: {path} (check the path; samples are in {DATA_DIR}).")
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"Cannot read {path} as an image ({exc}): is it a complete JPEG or PNG?") from exc


def preprocess(path_or_image: str | Path | Image.Image, spec: ModelSpec) -> np.ndarray:
    """One image -> float32 array (3, H, W), ready to stack into a batch."""
    image = path_or_image if isinstance(path_or_image, Image.Image) else load_image(path_or_image)
    return preprocess_image(image, spec.preprocess_config())


def batch_of(paths: list[Path], spec: ModelSpec) -> np.ndarray:
    """Preprocess several images into one float32 batch (N, 3, H, W)."""
    return np.stack([preprocess(p, spec) for p in paths])

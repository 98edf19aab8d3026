"""The benchmark's statistics: latency percentiles, speedups, and agreement with eager PyTorch.

Pure functions of numbers (no timing, no engines), so tests can check their arithmetic exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from helpers.container.inference import softmax


def summarize(samples_ms: Sequence[float]) -> dict[str, float | int]:
    """Median, p90, p99 (linear interpolation), mean, min and count of latency samples.

    With fewer than ~100 samples p99 is close to the maximum: read it as "worst seen".
    """
    if len(samples_ms) == 0:
        raise ValueError("No samples to summarize: run at least one timed repeat.")
    values = np.asarray(samples_ms, dtype=np.float64)
    median, p90, p99 = np.percentile(values, [50, 90, 99], method="linear")
    return {
        "median": float(median),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "n": int(values.size),
    }


def speedup(reference_ms: float | None, candidate_ms: float | None) -> float | None:
    """How many times faster than the reference (>1 = faster); None when either is missing."""
    if not reference_ms or not candidate_ms:
        return None
    return reference_ms / candidate_ms


def throughput(batch: int, median_ms: float) -> float:
    """Images per second at the median latency."""
    return batch * 1000.0 / median_ms


def accuracy_chunks(images: np.ndarray, batch: int) -> list[np.ndarray]:
    """The sample images in batches of `batch`, tiled so every image is used at least once."""
    count = -(-max(batch, len(images)) // batch) * batch
    tiled = np.resize(images, (count, *images.shape[1:]))  # np.resize repeats along axis 0
    return [np.ascontiguousarray(tiled[i : i + batch]) for i in range(0, count, batch)]


def probabilities(run: Callable[[np.ndarray], np.ndarray], chunks: Sequence[np.ndarray]) -> np.ndarray:
    """Softmax of an engine's logits on every chunk, stacked (float64, so rounding is not ours)."""
    return np.concatenate([softmax(np.asarray(run(chunk), dtype=np.float64)) for chunk in chunks])


def compare_probabilities(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    """Max |Δprob| (3 significant digits) and top-1 agreement of `candidate` with `reference`."""
    from helpers.tracing import compare

    result = compare(reference, candidate)
    return {"max_abs_dprob": float(f"{result['max_abs_dprob']:.3g}"), "top1_agree": result["top1_agree"]}

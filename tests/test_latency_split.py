"""The latency split's arithmetic and parsing, and the agreement inputs (pure functions: no servers)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from helpers import latency_split
from helpers.bench.inputs import AGREEMENT_INPUTS, agreement_images
from helpers.images import preprocess, sample_images
from helpers.models import ModelSpec

LINES = ["2026-12-02 16:40:01,123 INFO model-server[1] handler times: input_fn=4.000ms predict_fn=10.000ms output_fn=0.500ms",
         "handler times: input_fn=2.000ms predict_fn=12.000ms output_fn=0.300ms"]


def test_handler_times_are_means_per_handler():
    assert latency_split.handler_times(LINES) == pytest.approx({"input_fn": 3.0, "predict_fn": 11.0, "output_fn": 0.4})
    assert latency_split.handler_times([]) == {"input_fn": 0.0, "predict_fn": 0.0, "output_fn": 0.0}


def test_mean_of_datapoints_weighs_each_period_by_its_count():
    points = [{"SampleCount": 3.0, "Sum": 30.0}, {"SampleCount": 1.0, "Sum": 50.0}]
    assert latency_split.mean_of(points) == 20.0
    assert np.isnan(latency_split.mean_of([]))


def test_split_adds_up_to_the_round_trip():
    parts = latency_split.split([20.0, 22.0], model_us=16_000, overhead_us=500,
                                handlers_ms={"input_fn": 3.0, "predict_fn": 11.0, "output_fn": 0.4})
    assert parts["round trip"] == 21.0 and parts["ModelLatency"] == 16.0
    assert parts["model server (rest of ModelLatency)"] == pytest.approx(1.6)
    inside = sum(parts[k] for k in ("preprocessing (input_fn)", "model (predict_fn)", "answer (output_fn)",
                                    "model server (rest of ModelLatency)"))
    assert inside + parts["OverheadLatency"] + parts["client and network"] == pytest.approx(parts["round trip"])


def test_waiting_returns_at_once_when_counted_and_says_what_is_missing():
    assert latency_split.wait_for_counts(lambda: {"a": 5.0}, 5, "test") == {"a": 5.0}
    with pytest.raises(TimeoutError, match="only"):
        latency_split.wait_for_counts(lambda: {"a": 1.0}, 5, "test", timeout_s=0.05, interval_s=0.02)


def test_waiting_refuses_a_window_holding_more_than_was_made():
    with pytest.raises(RuntimeError, match="something else invoked"):
        latency_split.wait_for_counts(lambda: {"a": 5.0, "b": 6.0}, 5, "test")


def test_local_window_opens_on_the_next_whole_second_and_not_before():
    """moto truncates StartTime to the second: a start inside a second would count that second's earlier points."""
    before = datetime.now(timezone.utc)
    start = latency_split.window_start(is_local=True)
    assert start.tzinfo is not None and start.microsecond == 0
    assert before < start <= datetime.now(timezone.utc) <= start + timedelta(seconds=1)


def test_agreement_inputs_are_deterministic_variants_of_the_photos():
    spec = ModelSpec(name="test", crop=64, resize=72)
    first, second = agreement_images(sample_images(), spec), agreement_images(sample_images(), spec)
    assert first.shape[0] == AGREEMENT_INPUTS >= 200 and np.array_equal(first, second)
    assert np.allclose(first[0], preprocess(sample_images()[0], spec))  # the first is the photo as it is
    assert len({first[i].tobytes() for i in range(len(first))}) == len(first)  # no two the same

"""Computed sentences in the edition's language: notebook 05's honest reading prints Korean in notebooks/ko/."""

from __future__ import annotations

import string

import pytest

from helpers import lessons, readings
from helpers.paths import NOTEBOOKS_DIR

ROWS = [
    {"engine": "eager", "batch": 1, "precision": "fp32", "median_ms": 20.0, "speedup_vs_eager": 1.0, "max_abs_dprob": 0.0,
     "throughput_ips": 50.0},
    {"engine": "neo-local", "batch": 1, "precision": "fp32", "median_ms": 5.0, "speedup_vs_eager": 4.0,
     "max_abs_dprob": 1.2e-6, "throughput_ips": 200.0},
    {"engine": "eager", "batch": 8, "precision": "fp32", "median_ms": 100.0, "speedup_vs_eager": 1.0,
     "max_abs_dprob": 0.0, "throughput_ips": 80.0},
    {"engine": "neo-local", "batch": 8, "precision": "fp32", "median_ms": 20.0, "speedup_vs_eager": 5.0,
     "max_abs_dprob": 1e-6, "throughput_ips": 400.0},
    {"engine": "torch.compile", "batch": 1, "precision": "fp32", "median_ms": None},
]


def test_the_edition_is_the_folder_that_holds_its_translations(tmp_path):
    assert lessons.edition_language(NOTEBOOKS_DIR / "ko") == "ko"
    assert lessons.edition_language(NOTEBOOKS_DIR) == "en"
    (tmp_path / "ko").mkdir()
    assert lessons.edition_language(tmp_path / "ko") == "en", "a folder named ko without translations/ is not an edition"


@pytest.mark.parametrize("language", sorted(readings.TEMPLATES))
def test_every_language_reads_the_same_numbers(language):
    lines = readings.latency_reading(ROWS, (1, 8), {"uncompiled": 40.0, "compiled": 16.0},
                                     {"uncompiled": 22.0, "compiled": 11.0}, language)
    assert len(lines) == 3
    for number in ("5.0", "20.0", "4.0", "1.2e-06", "400", "80", "40.0", "16.0", "2.5", "22.0", "11.0"):
        assert number in "\n".join(lines), (language, number)


def test_templates_of_every_language_have_the_english_placeholders():
    fields = {key: {f for _, f, _, _ in string.Formatter().parse(text) if f}
              for key, text in readings.TEMPLATES["en"].items()}
    for language, templates in readings.TEMPLATES.items():
        assert {key: {f for _, f, _, _ in string.Formatter().parse(text) if f}
                for key, text in templates.items()} == fields, language


def test_an_unknown_language_reads_in_english():
    args = (ROWS, (1,), {"uncompiled": 40.0, "compiled": 16.0}, {"uncompiled": 22.0, "compiled": 11.0})
    assert readings.latency_reading(*args, "fr") == readings.latency_reading(*args, "en")


SPLITS = {label: {"round trip": rt, "ModelLatency": ml, "OverheadLatency": 0.31, "client and network": rt - ml - 0.31,
                  "preprocessing (input_fn)": 6.5, "model (predict_fn)": model, "answer (output_fn)": 0.27,
                  "model server (rest of ModelLatency)": ml - model - 6.77}
          for label, rt, ml, model in (("uncompiled", 79.3, 74.3, 62.3), ("compiled", 28.7, 24.5, 15.3))}


@pytest.mark.parametrize("language", sorted(readings.TEMPLATES))
def test_the_endpoint_split_reads_the_same_numbers_in_every_language(language):
    lines = readings.split_reading(SPLITS, {("torchscript", "fp32"): 55.0, ("neo-local", "fp32"): 12.0}, language)
    assert len(lines) == 5
    text = "\n".join(lines)
    # round trips, ModelLatency, predict_fn; all but the model (17.0, 13.4); saved (50.6) of which predict_fn (47.0)
    for number in ("79.3", "28.7", "74.3", "24.5", "62.3", "15.3", "0.31", "17.0", "13.4", "50.6", "47.0", "55.0", "12.0"):
        assert number in text, (language, number)
    assert ("컴파일 전" in text) == (language == "ko")


def test_the_split_reading_leaves_out_an_engine_the_benchmark_did_not_time():
    assert len(readings.split_reading(SPLITS, {}, "en")) == 3

"""The pre-flight before real Neo (issue 8, fact 1): what decides is the TorchScript file format
version, the operators and type names the file uses, and a real load by the FrameworkVersion's
torch, not which torch traced the model."""

from __future__ import annotations

import json
import os
import re
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import preflight

INPUT_SHAPE = [1, 3, 224, 224]


def rewrite_version(model_file: Path, version: int, destination: Path) -> Path:
    """A copy of a TorchScript file whose version record says `version`."""
    with zipfile.ZipFile(model_file) as source, zipfile.ZipFile(destination, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("/version"):
                data = f"{version}\n".encode()
            target.writestr(item, data)
    return destination


def archive_with(model_file: Path, destination: Path) -> Path:
    with tarfile.open(destination, "w:gz") as tar:
        tar.add(model_file, arcname="model.pth")
    return destination


def torch20_python() -> Path:
    python = preflight.framework_python("2.0")
    if python is None:
        message = "torch 2.0.1 side environment missing: run `make torch20`"
        if os.environ.get("NEO_WORKSHOP_REQUIRE_TORCH20"):  # make test sets it: CI never skips this
            pytest.fail(message)
        pytest.skip(message)
    return python


def test_workshop_trace_writes_a_format_torch_2_0_reads(traced_model_file):
    """torch 2.14 writes the lowest version the operators need (dynamic versioning): 4 here."""
    version = preflight.file_format_version(traced_model_file)
    assert version <= preflight.MAX_FILE_FORMAT_VERSION["2.0"] == 10


@pytest.mark.slow
def test_torch_2_0_1_loads_the_workshop_model_bit_identically(traced_model_file):
    import torch

    python = torch20_python()
    example = np.random.default_rng(0).standard_normal(INPUT_SHAPE).astype(np.float32)
    check = preflight.load_with(python, traced_model_file, example)
    assert check.torch_version.startswith("2.0.")
    with torch.no_grad():
        ours = torch.jit.load(str(traced_model_file)).eval()(torch.from_numpy(example)).numpy()
    np.testing.assert_array_equal(check.output, ours)


@pytest.mark.slow
def test_workshop_model_passes_the_preflight_for_framework_version_2_0(model_archive):
    torch20_python()
    verdict = preflight.check_framework_version(model_archive, "2.0", INPUT_SHAPE, "aws")
    assert "torch 2.0.1 loaded it" in verdict and "[1, 1000]" in verdict


def test_a_format_newer_than_neo_reads_is_refused_on_aws(traced_model_file, tmp_path):
    model = rewrite_version(traced_model_file, 11, tmp_path / "model.pth")
    archive = archive_with(model, tmp_path / "model.tar.gz")
    with pytest.raises(preflight.PreflightError, match="file format version 11.*reads up to 10"):
        preflight.check_framework_version(archive, "2.0", INPUT_SHAPE, "aws")
    assert "reads it anyway" in preflight.check_framework_version(archive, "2.0", INPUT_SHAPE, "local")


def test_an_old_framework_version_names_its_limit(traced_model_file, tmp_path):
    archive = archive_with(rewrite_version(traced_model_file, 6, tmp_path / "model.pth"), tmp_path / "m.tar.gz")
    with pytest.raises(preflight.PreflightError, match="FrameworkVersion 1.6 reads up to 5"):
        preflight.check_framework_version(archive, "1.6", INPUT_SHAPE, "aws")


@pytest.mark.slow
def test_a_model_torch_2_0_cannot_load_gets_its_error(traced_model_file, tmp_path):
    python = torch20_python()
    broken = tmp_path / "model.pth"
    with zipfile.ZipFile(traced_model_file) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():  # drop the code: the archive still has a valid version
            if "/code/" not in item.filename:
                target.writestr(item, source.read(item))
    with pytest.raises(preflight.PreflightError, match=f"torch from {python}"):
        preflight.load_with(python, broken, np.zeros(INPUT_SHAPE, dtype=np.float32))


def test_not_a_torchscript_file_is_named(tmp_path):
    bogus = tmp_path / "model.pth"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(preflight.PreflightError, match="not a TorchScript archive"):
        preflight.file_format_version(bogus)


def test_archive_without_model_file_says_where_it_belongs(tmp_path):
    archive = tmp_path / "m.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        (tmp_path / "other.txt").write_text("x")
        tar.add(tmp_path / "other.txt", arcname="other.txt")
    with pytest.raises(preflight.PreflightError, match="model.pth or model.pt at its root"):
        preflight.check_framework_version(archive, "2.0", INPUT_SHAPE, "aws")


def test_framework_version_must_be_one_neo_knows(model_archive):
    with pytest.raises(ValueError, match="1.4"):
        preflight.check_framework_version(model_archive, "2.5", INPUT_SHAPE, "local")


# ----------------------------------------------------------------------------- CompilerOptions (issue 8, item 5)
def test_neo_compiler_options_are_sent_on_both_backends():
    for backend in ("local", "aws"):
        sent = preflight.check_compiler_options({"mcpu": "skylake-avx512", "dtype": "float32"}, backend)
        assert json.loads(sent) == {"mcpu": "skylake-avx512", "dtype": "float32"}


def test_local_only_precision_mode_is_never_sent_to_aws():
    assert json.loads(preflight.check_compiler_options({"precision_mode": "bf16"}, "local")) == {"precision_mode": "bf16"}
    with pytest.raises(preflight.PreflightError, match="precision_mode is a local-only option.*not sent"):
        preflight.check_compiler_options({"mcpu": "skylake-avx512", "precision_mode": "bf16"}, "aws")


def test_an_unknown_option_is_not_sent_to_aws():
    with pytest.raises(preflight.PreflightError, match="mpcu: not a documented SageMaker Neo option"):
        preflight.check_compiler_options({"mpcu": "skylake-avx512"}, "aws")
    assert preflight.check_compiler_options('"--verbose 1"', "aws") == '"--verbose 1"', "Inferentia's string form"


# --------------------------------------------------------------------------- operators and type names
class PadsWithFPad(torch.nn.Module):
    """A model calling F.pad, which torch 2.14 traces to aten::pad (torch 1.8 has none)."""

    def forward(self, x):
        return torch.nn.functional.pad(x, (1, 1, 1, 1)) * 2


def traced_archive(module, tmp_path: Path, shape=(1, 3, 8, 8)) -> Path:
    from helpers.tracing import trace_model

    model_file = tmp_path / "model.pth"
    trace_model(module, torch.zeros(shape), model_file)
    return archive_with(model_file, tmp_path / "model.tar.gz")


@pytest.fixture
def no_framework_python(monkeypatch, tmp_path):
    """No torch of any FrameworkVersion here (no side environment, no variable): the lists decide."""
    monkeypatch.delenv(preflight.FRAMEWORK_PYTHON_ENV, raising=False)
    monkeypatch.setattr(preflight, "REPO_ROOT", tmp_path / "no-side-environments")


def test_the_workshop_model_calls_only_operators_torch_1_8_has(traced_model_file):
    used = preflight.operators_used(traced_model_file)
    assert "aten::constant_pad_nd" in used and "aten::pad" not in used
    assert "prim::Constant" not in used  # IR node kinds are syntax, not operators
    assert not used - preflight.framework_operators("1.8").names


def test_workshop_model_passes_the_preflight_for_framework_version_1_8(model_archive, no_framework_python):
    verdict = preflight.check_framework_version(model_archive, "1.8", INPUT_SHAPE, "aws")
    assert re.search(r"all \d+ operators it calls are in torch 1\.8\.1's list", verdict), verdict
    assert "no type name its torch cannot parse (NoneType)" in verdict and "`make torch18`" in verdict


def test_a_model_calling_aten_pad_is_refused_for_1_8_on_aws(tmp_path, no_framework_python):
    archive = traced_archive(PadsWithFPad(), tmp_path)
    with pytest.raises(preflight.PreflightError, match=r"calls aten::pad, which torch 1\.8\.1 .*torch\.constant_pad_nd"):
        preflight.check_framework_version(archive, "1.8", [1, 3, 8, 8], "aws")
    assert "reads it anyway" in preflight.check_framework_version(archive, "1.8", [1, 3, 8, 8], "local")
    assert "in torch 2.0.1's list" in preflight.check_framework_version(archive, "2.0", [1, 3, 8, 8], "aws")


def test_a_traced_identity_writes_nonetype_which_torch_1_8_cannot_parse(tmp_path, no_framework_python):
    from helpers.models import drop_identity_modules

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.Identity()).eval()
    raw = tmp_path / "raw.pth"
    torch.jit.trace(net, torch.zeros(1, 3, 8, 8)).save(str(raw))
    assert preflight.type_names_unknown_to(raw, "1.8") == ["NoneType"]
    assert preflight.type_names_unknown_to(raw, "1.12") == []
    with pytest.raises(preflight.PreflightError, match="type name NoneType.*drop_identity_modules"):
        preflight.check_framework_version(archive_with(raw, tmp_path / "raw.tar.gz"), "1.8", [1, 3, 8, 8], "aws")
    assert drop_identity_modules(net) == 1
    archive = traced_archive(net, tmp_path)
    assert "no type name its torch cannot parse" in preflight.check_framework_version(archive, "1.8", [1, 3, 8, 8], "aws")


def test_operator_lists_cover_every_framework_version_and_say_how_they_were_made():
    for version in preflight.MAX_FILE_FORMAT_VERSION:
        listed = preflight.framework_operators(version)
        lines = (preflight.OPERATOR_LISTS / f"{version}.txt").read_text().splitlines()
        assert listed.torch_version.startswith(f"{version}.") and "tools/torch_ops.py" in lines[0]
        body = [line for line in lines if not line.startswith("#")]
        assert body == sorted(body) and "aten::constant_pad_nd" in listed.names
        assert ("aten::pad" in listed.names) == (version in ("1.12", "1.13", "2.0"))


def test_a_framework_version_without_a_list_says_its_operators_are_unchecked(
        model_archive, no_framework_python, monkeypatch, tmp_path):
    monkeypatch.setattr(preflight, "OPERATOR_LISTS", tmp_path)
    preflight.framework_operators.cache_clear()
    try:
        verdict = preflight.check_framework_version(model_archive, "1.8", INPUT_SHAPE, "aws")
    finally:
        monkeypatch.undo()
        preflight.framework_operators.cache_clear()
    assert "operators not checked: no list for FrameworkVersion 1.8" in verdict


@pytest.mark.slow
def test_a_load_by_another_torch_version_is_no_proof(model_archive, tmp_path, monkeypatch):
    monkeypatch.setenv(preflight.FRAMEWORK_PYTHON_ENV, str(torch20_python()))
    monkeypatch.setattr(preflight, "REPO_ROOT", tmp_path / "no-side-environments")
    verdict = preflight.check_framework_version(model_archive, "1.8", INPUT_SHAPE, "aws")
    assert "torch 2.0.1" in verdict and "not FrameworkVersion 1.8's torch: no proof" in verdict
    with pytest.raises(preflight.PreflightError, match="aten::pad"):  # torch 2.0.1 loads it: still refused
        preflight.check_framework_version(traced_archive(PadsWithFPad(), tmp_path), "1.8", [1, 3, 8, 8], "aws")


def test_a_failed_load_is_told_by_its_message_not_its_last_line():
    python_error = "Traceback (most recent call last):\n  ...\nRuntimeError: \nUnknown builtin op: aten::pad.\nHere are some suggestions:\n\taten::grad\n"
    assert preflight._failure(python_error, 1) == "Unknown builtin op: aten::pad."
    abort = "terminate called after throwing an instance of 'c10::Error'\n  what():  isTuple() INTERNAL ASSERT FAILED\nframe #0: x\n"
    assert preflight._failure(abort, -6) == "isTuple() INTERNAL ASSERT FAILED"
    assert preflight._failure("", -9) == "the process died (signal 9)"


@pytest.mark.slow
def test_torch_1_8_1_loads_the_workshop_model(traced_model_file):
    """Only where `make torch18` (optional, Python 3.8) has built .venv-torch18: the proof for notebook 04."""
    python = preflight.framework_python("1.8")
    if python is None:
        pytest.skip("no torch 1.8 here: `make torch18` builds one (needs Python 3.8)")
    example = np.random.default_rng(0).standard_normal(INPUT_SHAPE).astype(np.float32)
    check = preflight.load_with(python, traced_model_file, example)
    if not check.torch_version.startswith("1.8."):
        pytest.skip(f"{python} has torch {check.torch_version}, not 1.8")
    with torch.no_grad():
        ours = torch.jit.load(str(traced_model_file)).eval()(torch.from_numpy(example)).numpy()
    np.testing.assert_allclose(check.output, ours, atol=1e-4)
    assert check.output.argmax() == ours.argmax()


# --------------------------------------------------------------------------- shapes computed at run time
class PadsFromItsSize(torch.nn.Module):
    """TF-"same"-style padding computed from x.size(): the trace records aten::size and the arithmetic."""

    def forward(self, x):
        height = x.size(2)
        pad = (height + 1) // 2 - height // 2 + 1
        return torch.constant_pad_nd(x, [pad, pad, pad, pad], 0.0) * 2


def test_a_model_computing_its_padding_from_its_size_is_warned_about(tmp_path, no_framework_python):
    archive = traced_archive(PadsFromItsSize(), tmp_path)
    for backend_name in ("aws", "local"):
        with pytest.warns(preflight.RuntimeShapeWarning, match="Neo's compiler must fold these: trace with fixed shapes"):
            verdict = preflight.check_framework_version(archive, "2.0", [1, 3, 8, 8], backend_name)
        assert "shapes computed at run time (aten::size)" in verdict


def test_the_workshop_model_computes_no_shape_at_run_time(model_archive, no_framework_python, recwarn):
    verdict = preflight.check_framework_version(model_archive, "1.8", INPUT_SHAPE, "aws")
    assert "no shapes computed at run time" in verdict
    assert not [w for w in recwarn if issubclass(w.category, preflight.RuntimeShapeWarning)]

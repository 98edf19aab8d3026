"""helpers.runtime: DLR's telemetry opt-out, loading compiled artifacts, and clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from helpers.paths import REPO_ROOT
from helpers.runtime import (
    DLR_PHONE_HOME_KEY,
    describe_artifact,
    disable_dlr_telemetry,
    dlr_config_path,
    load_compiled_model,
)


def _run_python(code: str) -> dict:
    """Run `code` in a fresh interpreter (dlr acts at import time) and parse its last line as JSON."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- telemetry
def test_opt_out_is_written_and_keeps_other_keys(tmp_path):
    config = tmp_path / "ccm_config.json"
    config.write_text(json.dumps({"enable_device_info": True, DLR_PHONE_HOME_KEY: True}))

    assert disable_dlr_telemetry(config) == config
    assert json.loads(config.read_text()) == {"enable_device_info": True, DLR_PHONE_HOME_KEY: False}


def test_opt_out_is_idempotent(tmp_path):
    config = tmp_path / "ccm_config.json"
    disable_dlr_telemetry(config)
    first = config.read_text()
    disable_dlr_telemetry(config)
    assert config.read_text() == first
    assert json.loads(first) == {DLR_PHONE_HOME_KEY: False}


def test_opt_out_replaces_a_corrupt_file(tmp_path):
    config = tmp_path / "ccm_config.json"
    config.write_text("{not json")
    disable_dlr_telemetry(config)
    assert json.loads(config.read_text()) == {DLR_PHONE_HOME_KEY: False}


def test_config_path_is_found_without_importing_dlr():
    result = _run_python(
        """
        import json, sys
        from helpers.runtime import dlr_config_path
        path = dlr_config_path()
        print(json.dumps({"path": str(path), "imported": "dlr" in sys.modules}))
        """
    )
    assert not result["imported"]
    path = Path(result["path"])
    assert path.name == "ccm_config.json"
    assert path.parent.name == "counter" and path.parent.parent.name == "dlr"
    assert path == dlr_config_path()


def test_importing_dlr_after_the_opt_out_does_not_phone_home():
    """What dlr itself reads after import: feature off, no client, no HTTP call attempted."""
    result = _run_python(
        """
        import json
        import requests
        calls = []
        def refuse(*args, **kwargs):  # no network: record and fail any attempt
            calls.append(args[0] if args else kwargs.get("url"))
            raise RuntimeError("network disabled in this test")
        requests.post = refuse

        from helpers.runtime import disable_dlr_telemetry
        written = disable_dlr_telemetry()
        import dlr
        from dlr.counter import phone_home
        print(json.dumps({
            "written": str(written),
            "dlr_reads": phone_home.PhoneHome.get_config_path(),
            "enabled": phone_home.PhoneHome.is_enabled(),
            "client": phone_home.MGR is not None,
            "calls": calls,
        }))
        """
    )
    assert Path(result["written"]) == Path(result["dlr_reads"])
    assert result["enabled"] is False
    assert result["client"] is False
    assert result["calls"] == []


# --------------------------------------------------------------------------- local Neo artifact
@pytest.fixture(scope="module")
def compiled_dir(traced_model_file, tmp_path_factory) -> Path:
    from helpers.compiler import compile_torchscript

    out = tmp_path_factory.mktemp("neo-local")
    compile_torchscript(traced_model_file, {"input0": [1, 3, 224, 224]}, out)
    return out


@pytest.mark.slow
def test_local_neo_artifact_runs_and_matches_eager(compiled_dir, model_and_spec):
    import torch

    from helpers.container.inference import softmax
    from helpers.images import batch_of, sample_images
    from helpers.models import predict_probabilities
    from helpers.tracing import compare

    model, spec = model_and_spec
    compiled = load_compiled_model(compiled_dir)
    assert compiled.runtime.startswith("OpenVINO") and "DLR cannot run it" in compiled.runtime
    assert compiled.get_input_names() == ["input0"]
    assert compiled.get_output_names() == ["output0"]

    images = batch_of(sample_images(), spec)
    reference = predict_probabilities(model, torch.from_numpy(images)).numpy()
    outputs = [compiled.run(image[None]) for image in images]
    assert all(isinstance(out, list) and len(out) == 1 for out in outputs)
    candidate = softmax(np.concatenate([out[0] for out in outputs]))
    result = compare(reference, candidate)
    assert result["max_abs_dprob"] <= 1e-3
    assert result["top1_agree"] == 1.0

    by_name = compiled.run({"input0": images[:1]})[0]
    np.testing.assert_allclose(by_name, outputs[0][0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="input0"):
        compiled.run({"image": images[:1]})
    with pytest.raises(ValueError, match=r"compiled for \[1, 3, 224, 224\]"):
        compiled.run(np.zeros((2, 3, 224, 224), dtype=np.float32))


@pytest.mark.slow
def test_describe_artifact_explains_every_file(compiled_dir, tmp_path):
    artifact = tmp_path / "artifact"
    shutil.copytree(compiled_dir, artifact)
    (artifact / "code").mkdir()
    (artifact / "code" / "inference.py").write_text("# entry script\n")
    (artifact / "notes.txt").write_text("hi")

    rows = {row["file"]: row for row in describe_artifact(artifact)}
    assert set(rows) == {"compiled.xml", "compiled.bin", "compiled.meta", "code/inference.py", "notes.txt"}
    assert rows["compiled.bin"]["bytes"] == (artifact / "compiled.bin").stat().st_size
    assert "weights" in rows["compiled.bin"]["role"]
    assert "graph" in rows["compiled.xml"]["role"]
    assert "entry script" in rows["code/inference.py"]["role"]
    assert "not a file" in rows["notes.txt"]["role"]
    assert all(row["size"] for row in rows.values())


# --------------------------------------------------------------------------- clear errors
def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="No compiled model"):
        load_compiled_model(tmp_path / "nowhere")


def test_empty_directory_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="empty directory"):
        load_compiled_model(tmp_path)


def test_unknown_files_are_listed(tmp_path):
    (tmp_path / "model.pth").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(RuntimeError) as raised:
        load_compiled_model(tmp_path)
    message = str(raised.value)
    assert "model.pth" in message and "notes.txt" in message
    assert "compiled.so" in message and "compiled.xml" in message  # says what was expected


def test_archive_instead_of_directory(tmp_path):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="tar"):
        load_compiled_model(archive)


def test_openvino_artifact_without_weights(tmp_path):
    for name in ("compiled.xml", "compiled.meta"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"compiled\.bin"):
        load_compiled_model(tmp_path)


def test_dlr_artifact_without_libdlr_gives_a_clear_error(tmp_path):
    for name in ("compiled.so", "compiled.params", "compiled_model.json", "compiled.meta"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(RuntimeError) as raised:
        load_compiled_model(tmp_path)
    message = str(raised.value)
    assert "no libdlr.so" in message
    assert "compiled.so" in message and "compiled.params" in message
    assert "TargetPlatform" in message


# --------------------------------------------------------------------------- the DLR path itself
# A stand-in for the libdlr.so Neo bundles: just enough of DLR's C API (the calls dlr 1.10's
# ctypes wrapper makes) for a model that doubles its one input. It proves that
# load_compiled_model hands the directory to dlr.DLRModel and that dlr loads the *bundled* library.
FAKE_LIBDLR = r"""
#include <stdint.h>
#include <string.h>
static float buffer[4];
static int64_t shape[2] = {1, 4};
static int model = 42;
int CreateDLRModel(void** handle, const char* path, int dev_type, int dev_id) { *handle = &model; return 0; }
int DeleteDLRModel(void** handle) { return 0; }
const char* DLRGetLastError(void) { return "fake error"; }
int GetDLRBackend(void** h, const char** name) { *name = "tvm"; return 0; }
int GetDLRVersion(const char** version) { *version = "1.10.0-fake"; return 0; }
int GetDLRNumInputs(void** h, int* n) { *n = 1; return 0; }
int GetDLRNumWeights(void** h, int* n) { *n = 0; return 0; }
int GetDLRNumOutputs(void** h, int* n) { *n = 1; return 0; }
int GetDLRInputName(void** h, int i, const char** name) { *name = "data"; return 0; }
int GetDLROutputName(void** h, int i, const char** name) { *name = "doubled"; return 0; }
int GetDLRInputType(void** h, int i, const char** t) { *t = "float32"; return 0; }
int GetDLROutputType(void** h, int i, const char** t) { *t = "float32"; return 0; }
int GetDLROutputSizeDim(void** h, int i, int64_t* size, int* dim) { *size = 4; *dim = 2; return 0; }
int GetDLROutputShape(void** h, int i, int64_t* out) { memcpy(out, shape, sizeof shape); return 0; }
int SetDLRInput(void** h, const char* name, const int64_t* s, const float* data, int dim) {
    for (int k = 0; k < 4; k++) buffer[k] = data[k]; return 0; }
int RunDLRModel(void** h) { for (int k = 0; k < 4; k++) buffer[k] *= 2.0f; return 0; }
int GetDLROutput(void** h, int i, float* out) { memcpy(out, buffer, sizeof buffer); return 0; }
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build the stand-in libdlr.so")
def test_dlr_artifact_with_bundled_libdlr_runs_the_dlr_way(tmp_path):
    source = tmp_path / "fake_dlr.c"
    source.write_text(FAKE_LIBDLR)
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(artifact / "libdlr.so"), str(source)], check=True)
    for name in ("compiled.so", "compiled.params", "compiled_model.json"):
        (artifact / name).write_bytes(b"stand-in")

    model = load_compiled_model(artifact)
    assert model.runtime == "DLR 1.10.0-fake (bundled libdlr.so)"
    assert model.get_input_names() == ["data"]
    assert model.get_output_names() == ["doubled"]
    (out,) = model.run(np.array([[1, 2, 3, 4]], dtype=np.float32))
    np.testing.assert_array_equal(out, [[2, 4, 6, 8]])
    assert json.loads(dlr_config_path().read_text())[DLR_PHONE_HOME_KEY] is False

"""model.tar.gz layout, tracing fidelity, and extraction that never escapes its directory."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch

from helpers import packaging, tracing


def test_archive_layout_is_what_neo_expects(model_archive):
    names = [name for name, _ in packaging.list_archive(model_archive)]
    assert names == ["code/inference.py", "code/model-config.json", "model.pth"]


def test_archive_ships_the_repository_entry_script(model_archive, tmp_path):
    out = packaging.safe_extract(model_archive, tmp_path / "x")
    assert (out / "code" / "inference.py").read_bytes() == packaging.ENTRY_SCRIPT.read_bytes()


def test_archive_config_records_the_tracing_torch(model_archive):
    config = packaging.read_archive_config(model_archive)
    assert config["traced_with_torch"] == torch.__version__.split("+")[0]
    assert config["model"] == "efficientnet_lite0"


def test_traced_equals_eager(model_and_spec, traced_model_file):
    model, spec = model_and_spec
    x = torch.randn(2, *spec.input_shape[1:], generator=torch.Generator().manual_seed(0))
    traced = torch.jit.load(str(traced_model_file))
    with torch.inference_mode():
        check = tracing.compare(torch.softmax(model(x), -1).numpy(), torch.softmax(traced(x), -1).numpy())
    assert check["max_abs_dprob"] < 1e-5 and check["top1_agree"] == 1.0


def test_compare_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes"):
        tracing.compare(np.zeros((1, 10)), np.zeros((2, 10)))


def _tar_with(tmp_path, member: tarfile.TarInfo, data: bytes = b"x"):
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/escape.txt", "code/../../escape.txt"])
def test_safe_extract_refuses_paths_outside(tmp_path, name):
    archive = _tar_with(tmp_path, tarfile.TarInfo(name))
    with pytest.raises(packaging.UnsafeArchiveError, match="outside"):
        packaging.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_safe_extract_refuses_links(tmp_path, kind):
    member = tarfile.TarInfo("model.pth")
    member.type, member.linkname = kind, "/etc/passwd"
    with pytest.raises(packaging.UnsafeArchiveError, match="links"):
        packaging.safe_extract(_tar_with(tmp_path, member), tmp_path / "out")


def test_safe_extract_refuses_special_files_through_the_data_filter(tmp_path):
    member = tarfile.TarInfo("model.pth")
    member.type = tarfile.FIFOTYPE
    with pytest.raises(packaging.UnsafeArchiveError, match="not a regular file"):
        packaging.safe_extract(_tar_with(tmp_path, member), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_safe_extract_cleans_stale_files(model_archive, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    packaging.safe_extract(model_archive, out)
    assert not (out / "stale.txt").exists() and (out / "model.pth").exists()


def test_code_is_added_to_a_compiled_archive_that_lacks_it(model_archive, tmp_path):
    """Issue 8, fact 3: whether Neo keeps code/ is undocumented; the notebooks add it when missing."""
    compiled = tmp_path / "model-ml_c5.tar.gz"
    with tarfile.open(compiled, "w:gz") as tar:
        (tmp_path / "model.pth").write_bytes(b"compiled")
        tar.add(tmp_path / "model.pth", arcname="model.pth")
    assert not packaging.has_code_dir(compiled)
    repacked = packaging.add_code_from(compiled, model_archive, tmp_path / "out" / compiled.name)
    assert packaging.has_code_dir(repacked)
    assert [name for name, _ in packaging.list_archive(repacked)] == [
        "code/inference.py", "code/model-config.json", "model.pth"]
    assert packaging.has_code_dir(model_archive)

"""model.tar.gz: the one package format SageMaker reads from S3 (models in, compiled models out).

Neo expects the TorchScript file at the archive root and the inference code under `code/`;
hosting reads the same layout. `safe_extract` is how the workshop opens every archive it did not
write itself: no member may land outside the target directory.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from helpers.models import ModelSpec

ENTRY_SCRIPT = Path(__file__).parent / "container" / "inference.py"
CONFIG_NAME = "model-config.json"


def build_model_archive(model_file: Path, spec: ModelSpec, archive: Path) -> Path:
    """Write `archive` with `model.pth` at the root and `code/inference.py` + its config.

    The entry script is the repository's own file (helpers/container/inference.py), copied in,
    never regenerated, so what is tested is what is deployed.
    """
    archive.parent.mkdir(parents=True, exist_ok=True)
    import torch

    # Record which torch traced it: real Neo's torch (FrameworkVersion 1.4 ... 2.0) may be older, and
    # whether it reads the file depends on its format version, operators and type names, not on
    # the tracer's version as such (helpers/preflight.py checks them).
    settings = spec.preprocess_config() | {"traced_with_torch": torch.__version__.split("+")[0]}
    config = json.dumps(settings, indent=1).encode()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_file, arcname="model.pth")
        add_code_dir(tar, config)
    return archive


def add_code_dir(tar: tarfile.TarFile, config: bytes) -> None:
    """Add `code/inference.py` and `code/model-config.json` to an open archive."""
    tar.add(ENTRY_SCRIPT, arcname="code/inference.py")
    info = tarfile.TarInfo("code/" + CONFIG_NAME)
    info.size = len(config)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(config))


def read_archive_config(archive: Path) -> dict:
    """The `code/model-config.json` packed in a model archive (model name, traced_with_torch...)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("code/" + CONFIG_NAME)
        if member is None:
            raise FileNotFoundError(f"{archive} has no code/{CONFIG_NAME}: rebuild it with build_model_archive.")
        return json.loads(member.read())


def list_archive(archive: Path) -> list[tuple[str, int]]:
    """(name, size in bytes) of each regular file in the archive, sorted by name."""
    with tarfile.open(archive) as tar:
        return sorted((m.name.removeprefix("./"), m.size) for m in tar.getmembers() if m.isfile())


class UnsafeArchiveError(ValueError):
    """An archive member would escape the target directory, or is a link or device."""


def check_member(member: tarfile.TarInfo, destination: Path) -> tarfile.TarInfo:
    """Refuse a member that is not plain data for `destination`, naming it; return it as extracted.

    tarfile's `data` filter (PEP 706) does most of the work: it refuses members that would land
    outside the destination (`..`), special files (devices, FIFOs) and links pointing outside, and
    drops owners and unsafe permission bits. Two things it lets through are refused here first:
    absolute names (it strips the leading '/' and extracts them anyway; a model archive never has
    one, so one is a sign of a hostile or broken archive) and links of any kind (a model archive
    needs none, and an in-archive link could still alias a file the server later overwrites).
    """
    if PurePosixPath(member.name).is_absolute():
        raise UnsafeArchiveError(f"Refusing archive member {member.name!r}: it points outside the extraction directory.")
    if member.issym() or member.islnk():
        raise UnsafeArchiveError(f"Refusing archive member {member.name!r}: links are not allowed in a model archive.")
    try:
        return tarfile.data_filter(member, str(destination))
    except tarfile.OutsideDestinationError as exc:
        raise UnsafeArchiveError(f"Refusing archive member {member.name!r}: it points outside the extraction directory.") from exc
    except tarfile.SpecialFileError as exc:
        raise UnsafeArchiveError(f"Refusing archive member {member.name!r}: not a regular file or directory.") from exc
    except tarfile.FilterError as exc:
        raise UnsafeArchiveError(f"Refusing archive member {member.name!r}: {exc}.") from exc


def safe_extract(archive: Path, destination: Path, *, clean: bool = True) -> Path:
    """Extract `archive` into `destination` after checking every member; return destination.

    Every member is checked before anything is written, so a refused archive leaves nothing
    behind. `clean=True` empties the destination first, so files from an older run never mix in.
    """
    with tarfile.open(archive) as tar:
        members = [check_member(member, destination) for member in tar.getmembers()]
        if clean and destination.exists():
            shutil.rmtree(destination)
        destination.mkdir(parents=True, exist_ok=True)
        tar.extractall(destination, members=members, filter="data")
    return destination


def has_code_dir(archive: Path) -> bool:
    """True when the archive carries `code/inference.py` (what the serving container imports)."""
    return any(name == "code/inference.py" for name, _ in list_archive(archive))


def add_code_from(compiled: Path, source: Path, destination: Path) -> Path:
    """`compiled` plus the `code/` directory of `source`, written to `destination`.

    Whether Neo copies `code/` from its input into its output is not documented. The SageMaker
    Python SDK does not rely on it: before deploying a compiled model it always repacks the
    entry script into the artifact's `code/` (sagemaker/utils.py `repack_model`, called from
    `Model._upload_code`). This is the same step, for archives that lack it.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(compiled) as tar_in, tarfile.open(source) as code_in, tarfile.open(destination, "w:gz") as out:
        for tar, keep_code in ((tar_in, False), (code_in, True)):
            for member in tar.getmembers():
                check_member(member, destination.parent)  # the rules of extracting it, applied to copying
                if member.name.removeprefix("./").startswith("code/") is keep_code:
                    out.addfile(member, tar.extractfile(member) if member.isfile() else None)
    return destination

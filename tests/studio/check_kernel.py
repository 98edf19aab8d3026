"""Run by `make test-studio` in the Studio kernel (.venv-studio): it uses the image's packages.

The kernel must import the image's torch, torchvision, numpy, SageMaker SDK v2 and sagemaker-core
1.x, at the image's versions and from the image's own site-packages (never a copy in the venv),
and the workshop beside them: SDK v2 and the workshop do not break each other's imports.
Usage: python tests/studio/check_kernel.py tests/studio/sagemaker-distribution-3.10.0.txt
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from pathlib import Path

FROM_THE_IMAGE = {"torch": "torch", "torchvision": "torchvision", "numpy": "numpy",
                  "sagemaker": "sagemaker", "sagemaker-core": "sagemaker_core", "boto3": "boto3"}


def image_versions(requirements: Path) -> dict[str, str]:
    lines = (line.split("#")[0].strip() for line in requirements.read_text().splitlines())
    return dict(line.split("==") for line in lines if "==" in line)


def main(requirements: Path) -> None:
    venv = Path(sys.prefix).resolve()
    wanted = image_versions(requirements)
    for distribution, module_name in FROM_THE_IMAGE.items():
        module = importlib.import_module(module_name)
        version = importlib.metadata.version(distribution)
        where = Path(module.__file__).resolve()
        assert version.split("+")[0] == wanted[distribution], f"{distribution} {version}, image has {wanted[distribution]}"
        assert not where.is_relative_to(venv), f"{distribution} comes from the kernel's venv ({where}), not the image"
        print(f"{distribution} {version} from the image ({where.parent})")
    from sagemaker.pytorch.model import PyTorchModel  # SDK v2 still whole in the workshop's kernel
    from sagemaker_core.resources import CompilationJob  # what notebook 03 runs in Studio

    import helpers.local.server  # noqa: F401 - the workshop beside it
    from helpers import sdk

    assert sdk.find_sdk().name == sdk.V2, "in Studio the kernel uses the image's SDK v2"
    print(f"workshop imports; SDK: {sdk.find_sdk().name}; {PyTorchModel.__name__}, {CompilationJob.__name__} import")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

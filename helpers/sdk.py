"""Which SageMaker Python SDK this kernel has: v3's `sagemaker-core`, or v2's `sagemaker`.

The workshop talks to SageMaker with boto3; on the `aws` backend it needs an SDK for two
look-ups only: the execution role (inside Studio) and the framework image URIs. The project's
own environment gets v3's `sagemaker-core` (the `aws` extra). SageMaker Studio's image ships
SDK v2 instead (SageMaker Distribution 3.10.0: sagemaker-python-sdk 2.245.0, which requires
`sagemaker-core<2`), so whichever imports is used and neither is forced on an environment.

Both expose the same two calls (checked against aws/sagemaker-python-sdk):
- v3: `sagemaker-core/src/sagemaker/core/helper/session_helper.py`
  `get_execution_role(sagemaker_session=None, use_default=False)` and
  `sagemaker-core/src/sagemaker/core/image_uris.py` `retrieve(framework, region, version=None,
  py_version=None, instance_type=None, accelerator_type=None, image_scope=None, ...)`;
- v2: `src/sagemaker/__init__.py` re-exports `get_execution_role` from `sagemaker.session` (same
  signature), and `src/sagemaker/image_uris.py` has the same `retrieve(...)`.
Importing either takes seconds, so only the `aws` backend calls this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

V3 = "sagemaker-core (SDK v3)"
V2 = "sagemaker (SDK v2)"


class SDKNotFoundError(ImportError):
    """Neither SageMaker SDK is importable in this kernel."""


@dataclass(frozen=True)
class SageMakerSDK:
    """The two SDK calls the workshop uses, from whichever SDK was found."""

    name: str
    get_execution_role: Callable[[], str]
    retrieve_image_uri: Callable[..., str]


def find_sdk() -> SageMakerSDK:
    """v3's `sagemaker-core` if it imports, else v2's `sagemaker`; a clear error if neither."""
    try:
        from sagemaker.core import image_uris
        from sagemaker.core.helper.session_helper import get_execution_role
    except ImportError:
        pass
    else:
        return SageMakerSDK(V3, get_execution_role, image_uris.retrieve)
    try:
        from sagemaker import get_execution_role, image_uris
    except ImportError as exc:
        raise SDKNotFoundError(
            "No SageMaker Python SDK in this kernel: install the project's aws extra "
            "(pip install -e '.[aws]', which `make` does) for sagemaker-core, or use a kernel "
            "that has the SageMaker SDK v2 (`import sagemaker`)."
        ) from exc
    return SageMakerSDK(V2, get_execution_role, image_uris.retrieve)


def execution_role() -> str:
    """The role of this Studio space / notebook instance (ValueError outside SageMaker)."""
    return find_sdk().get_execution_role()


# The Python of each PyTorch inference image the Neo FrameworkVersions map to (sagemaker-core's
# image_uri_config/pytorch.json, "inference" -> versions[...]["py_versions"]; SDK v2's is the same).
PYTORCH_PY_VERSIONS = {"1.8": "py3", "1.12": "py38", "1.13": "py39", "2.0": "py310"}


def image_uri(framework: str, region: str, version: str, instance_type: str,
              image_scope: str = "inference", py_version: str | None = None) -> str:
    """The ECR URI of a SageMaker framework container (e.g. the PyTorch inference image)."""
    py_version = py_version or PYTORCH_PY_VERSIONS.get(version, "py310")
    return find_sdk().retrieve_image_uri(framework, region=region, version=version,
                                         py_version=py_version, instance_type=instance_type,
                                         image_scope=image_scope)

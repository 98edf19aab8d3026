"""The workshop's own Jupyter kernel: its name, and the kernel the headless runner starts.

The workshop lives in its own environment (the project's `.venv`, or the conda env), never in
the Python that runs Jupyter: in SageMaker Studio that base environment has its own torch and
SageMaker SDK, which the workshop's pins would replace. The environment is registered as a
Jupyter kernel named `neo-workshop` (`make kernel`, i.e. `ipykernel install --user`, which is how
AWS's Studio guide adds an environment: "Customize your environment using a package manager",
https://docs.aws.amazon.com/sagemaker/latest/dg/studio-updated-jl-user-guide-customize-package-manager.html),
and every notebook's kernelspec names it, so opening a notebook picks it.

Headless runs (`python -m helpers run`, nbval with `--nbval-current-env`) do not need the kernel
registered: they start a kernel on the Python that runs them, whatever the notebook names.
"""

from __future__ import annotations

from typing import Any

KERNEL_NAME = "neo-workshop"
DISPLAY_NAME = "Python 3 (neo-workshop)"
MAKE_TARGET = "make kernel"


def kernelspec_metadata() -> dict[str, str]:
    """The `kernelspec` every workshop notebook carries in its metadata."""
    return {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"}


def current_python_kernel_manager_class() -> type:
    """nbclient's kernel manager class, for an IPython kernel on this very Python.

    Looking a kernel up by name could find a `python3` or `neo-workshop` spec registered for
    another environment; building the spec from ipykernel pins `sys.executable` instead (what
    nbval's `--nbval-current-env` does). Use it with `kernel_name="python3"`, so that nbclient
    still treats it as an IPython kernel (in-memory history instead of ~/.ipython's database).
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class CurrentPythonSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    class CurrentPythonKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(kernel_spec_manager=CurrentPythonSpecs(), **kwargs)

    return CurrentPythonKernelManager

"""Plumbing for the neo-workshop notebooks.

The notebooks teach; this package holds what would distract from the lesson: model loading,
packaging, waiting loops, plotting, benchmarking and the embedded `local` AWS backend.
Importing it is cheap: every heavy library (torch, openvino, boto3) is imported by the module
that needs it, so `python -m helpers local status` answers instantly.
"""

__version__ = "0.1.0"

from helpers import quiet as _quiet  # noqa: E402 - after the docstring and version, on purpose

_quiet.apply()

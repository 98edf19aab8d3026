"""Keep the lessons' outputs free of warnings that are not the lesson's (issue 18, "quiet outputs").

An attendee reads any pink stderr block as a failure. Three warnings appear on every run and say
nothing about the attendee's work, so they are silenced, each for a stated reason; every other
warning still shows:

- torch 2.x marks `torch.jit.trace`/`load` deprecated (FutureWarning). Neo reads TorchScript and
  nothing else, so the workshop must trace; notebook 01 says so in words instead.
- rich (through sagemaker-core's progress display) asks for ipywidgets in Jupyter: the text
  display it falls back to is what the workshop wants.
- torch's C++-extension logger reports "No CUDA runtime is found" when torch.compile builds its CPU
  kernels: there is no GPU here, on purpose.
"""

from __future__ import annotations

import logging
import warnings


def apply() -> None:
    """Install the three filters (idempotent: warnings de-duplicates identical filters)."""
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r'install "ipywidgets" for Jupyter support')
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

"""One status line that updates in place: in a notebook one output, in a terminal one tqdm line.

tqdm in a notebook without ipywidgets writes a carriage-return stream to stderr: JupyterLab folds
it into one line while the cell runs, but the saved notebook (and work/report.html) keeps every
update as a separate pink stderr block. A display handle updated in place leaves exactly one
output, the last status, which is what an attendee reading the executed notebook wants to see.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


def in_notebook() -> bool:
    """True inside a Jupyter kernel (the lessons, nbval, `helpers run`), False in a terminal."""
    shell = sys.modules.get("IPython")
    ipython = shell.get_ipython() if shell and hasattr(shell, "get_ipython") else None
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


class StatusLine:
    """`with StatusLine("job: starting") as line: line.set("job: INPROGRESS (2 s)")`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._handle: Any = None
        self._bar: Any = None

    def __enter__(self) -> StatusLine:
        if in_notebook():
            from IPython.display import display

            self._handle = display({"text/plain": self.text}, raw=True, display_id=True)
        else:
            from tqdm import tqdm

            self._bar = tqdm(total=None, bar_format="{desc}", desc=self.text)
        return self

    def set(self, text: str) -> None:
        if text == self.text:
            return
        self.text = text
        if self._handle is not None:
            self._handle.update({"text/plain": text}, raw=True)
        elif self._bar is not None:
            self._bar.set_description_str(text)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.close()

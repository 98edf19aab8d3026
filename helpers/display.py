"""Small display helpers: tables and coloured notices that read well in Jupyter and in a log.

In a notebook they render HTML; in `python -m helpers run` logs and plain terminals they print
aligned text, so the executed notebooks stay readable either way.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

COLOURS = {"info": "#e8f4fd", "ok": "#e6f4ea", "warning": "#fff4e5", "danger": "#fdecea"}


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def table_text(rows: Sequence[dict[str, Any]]) -> str:
    """Rows of dicts as an aligned plain-text table (columns from the first row)."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[_format(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def show_table(rows: Sequence[dict[str, Any]], title: str | None = None) -> None:
    """Display rows of dicts as a table: HTML in Jupyter, aligned text elsewhere."""
    if not _in_notebook():
        print((f"{title}\n" if title else "") + table_text(rows))
        return
    from IPython.display import HTML, display

    columns = list(rows[0]) if rows else []
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(_format(r.get(c, '')))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    caption = f"<caption style='text-align:left'><b>{html.escape(title)}</b></caption>" if title else ""
    display(HTML(f"<table>{caption}<tr>{head}</tr>{body}</table>"))


def notice(message: str, kind: str = "info") -> None:
    """A coloured box (info, ok, warning, danger) with a one-paragraph message."""
    if not _in_notebook():
        print(f"[{kind.upper()}] {message}")
        return
    from IPython.display import HTML, display

    display(HTML(
        f"<div style='background:{COLOURS[kind]};padding:10px 14px;border-radius:6px;"
        f"border-left:5px solid #888'>{message}</div>"
    ))


def backend_notice(backend: Any) -> None:
    """Say which backend runs and whether anything here can cost money."""
    if backend.is_local:
        notice("<b>Backend: local.</b> S3, SageMaker, Neo and endpoints run on this machine: "
               "no AWS account, nothing is billed.", "ok")
    else:
        notice("<b>Backend: aws.</b> This notebook creates real AWS resources. Endpoints are billed "
               "per hour until deleted: run the clean-up section at the end, even after an error.", "danger")

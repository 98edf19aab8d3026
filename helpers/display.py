"""Small display helpers: tables and coloured notices that read well in Jupyter and in a log.

In a notebook they render HTML; in `python -m helpers run` logs and plain terminals they print
aligned text, so the executed notebooks stay readable either way. `table_text` is the workshop's
one text-table renderer (the benchmark's report uses it too).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

COLOURS = {"info": "#e8f4fd", "ok": "#e6f4ea", "warning": "#fff4e5", "danger": "#fdecea"}


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


@dataclass(frozen=True)
class Column:
    """One column of a table: the row key it shows, its title, and a str.format pattern."""

    key: str
    title: str = ""
    fmt: str = ""  # e.g. "{:.2f}x"; empty: numbers to 4 significant digits, anything else as str()


def _cell(value: Any, fmt: str = "") -> str:
    if value is None:
        return "-"
    if fmt:
        return fmt.format(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def table_text(rows: Sequence[dict[str, Any]], columns: Sequence[Column] = ()) -> str:
    """Rows of dicts as an aligned plain-text table: numbers right-aligned, text left, None as '-'.

    `columns` picks, titles and formats the columns; by default every key of the first row.
    """
    if not rows:
        return "(no rows)"
    columns = list(columns) or [Column(key) for key in rows[0]]
    table = [[c.title or c.key for c in columns]]
    table += [[_cell(row.get(c.key), c.fmt) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    numeric = [all(isinstance(row.get(c.key), int | float) for row in rows if row.get(c.key) is not None)
               for c in columns]
    lines = ["  ".join(text.rjust(w) if right else text.ljust(w) for text, w, right in zip(line, widths, numeric, strict=True))
             for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def show_table(rows: Sequence[dict[str, Any]], title: str | None = None) -> None:
    """Display rows of dicts as a table: HTML in Jupyter, aligned text elsewhere."""
    if not _in_notebook():
        print((f"{title}\n" if title else "") + table_text(rows))
        return
    from IPython.display import HTML, display

    columns = list(rows[0]) if rows else []
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(_cell(r.get(c, '')))}</td>" for c in columns) + "</tr>"
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

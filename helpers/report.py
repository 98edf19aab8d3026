"""One self-contained HTML file of a headless run: `work/report.html`, written by `make workshop`.

For facilitators collecting runs from a room and for self-paced learners sharing theirs: every
executed notebook with its outputs and figures, which notebook failed where, the benchmark table
and the machine it was measured on, in one file that opens offline.

Built with nbconvert's HTMLExporter (the JupyterLab look, CSS inlined): the executed notebooks
are joined into one notebook behind a summary cell and exported once with `embed_images=True`
(markdown images become data URIs; figures already are). The `lab` template links MathJax,
require.js and the widget manager from CDNs; the template below drops those blocks, so the file
loads nothing from the network (the notebooks use no LaTeX and no widgets).
"""

from __future__ import annotations

import base64
import html
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.paths import NOTEBOOKS_DIR

REPORT_NAME = "report.html"
EXECUTED_DIR = "executed"
FIGURES_DIR = "figures"
BENCH_FILE = "bench.json"  # helpers.bench.save_results, from notebook 05
ENDPOINT_FILE = "05_endpoint_latency.json"  # notebook 05, section on endpoints
SUMMARY_FIGURE = "05_speedup_batch1.png"
MTIME_SLACK_S = 1.0  # filesystem timestamp granularity (collect_runs)

# Extends nbconvert's lab template, minus everything it would fetch from a CDN.
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}{{ super() }}<style>
/* stderr is mostly progress lines: shown like any other output, not as a pink error block */
.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"] { background: #f5f5f5; color: #333; }
</style>{%- endblock extra_css -%}
"""

BENCH_COLUMNS = (  # (key in a bench.json row, heading, format)
    ("engine", "engine", "{}"), ("precision", "precision", "{}"), ("batch", "batch", "{}"),
    ("median_ms", "median ms", "{:.1f}"), ("p90_ms", "p90 ms", "{:.1f}"), ("p99_ms", "p99 ms", "{:.1f}"),
    ("throughput_ips", "images/s", "{:.0f}"), ("speedup_vs_eager", "speedup vs eager", "{:.2f}x"),
    ("max_abs_dprob", "max |Δprob|", "{:.1e}"), ("top1_agree", "top-1", "{:.0%}"), ("n", "timed runs", "{}"),
)


@dataclass(frozen=True)
class NotebookRun:
    """What the report says about one lesson: did it run in this run, how long, where it failed."""

    name: str
    title: str
    state: str  # "ran", "failed", "incomplete", "not run"
    seconds: float | None = None
    failure: str | None = None
    path: Path | None = None


# --------------------------------------------------------------------------- reading the run
def notebook_title(notebook: Any, fallback: str) -> str:
    """The first level-1 heading of the notebook ('02 · Compile the model ...')."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _seconds(notebook: Any) -> float | None:
    """Wall time from nbclient's per-cell timestamps (first cell started -> last cell replied)."""
    from datetime import datetime

    stamps = []
    for cell in notebook.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        for key in ("iopub.execute_input", "shell.execute_reply"):
            if key in timing:
                stamps.append(datetime.fromisoformat(timing[key].replace("Z", "+00:00")))
    return (max(stamps) - min(stamps)).total_seconds() if len(stamps) >= 2 else None


def read_run(path: Path, name: str) -> NotebookRun:
    """State of one executed notebook: the first error output marks where it failed."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    title = notebook_title(notebook, name)
    code_cells = [(i, c) for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    for index, cell in code_cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                failure = f"cell {index}: {output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
                return NotebookRun(name, title, "failed", _seconds(notebook), failure, path)
    ran_all = all(c.get("execution_count") for _, c in code_cells)
    return NotebookRun(name, title, "ran" if ran_all else "incomplete", _seconds(notebook), None, path)


def collect_runs(work: Path, lessons: list[str], since: float | None = None) -> list[NotebookRun]:
    """One entry per lesson; an executed copy older than `since` (an earlier run) counts as not run."""
    runs = []
    for name in lessons:
        path = work / EXECUTED_DIR / name
        if not path.is_file():
            runs.append(NotebookRun(name, name, "not run"))
        # a file's mtime can lag the clock by up to a tick of the filesystem's coarser timestamp:
        # a copy written right after the run started must not count as an earlier run's
        elif since is not None and path.stat().st_mtime < since - MTIME_SLACK_S:
            runs.append(NotebookRun(name, name, "not run", failure="only an executed copy from an earlier run exists"))
        else:
            runs.append(read_run(path, name))
    return runs


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return None  # a half-written file from an interrupted run: the summary says it is missing


# --------------------------------------------------------------------------- the summary
def _cell(value: Any, fmt: str = "{}") -> str:
    if value is None:
        return "-"
    try:
        return html.escape(fmt.format(value))
    except (ValueError, TypeError):
        return html.escape(str(value))


def html_table(rows: list[dict[str, Any]], columns: tuple[tuple[str, str, str], ...], caption: str = "") -> str:
    """Rows as an HTML table: `columns` are (key, heading, format); missing values show '-'."""
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(key), fmt)}</td>" for key, _, fmt in columns) + "</tr>"
                   for row in rows)
    caption_html = f"<caption><b>{html.escape(caption)}</b></caption>" if caption else ""
    return f"<table>{caption_html}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _anchor(name: str) -> str:
    return "nb-" + Path(name).stem


def runs_table(runs: list[NotebookRun]) -> str:
    rows = [{"notebook": f"<a href='#{_anchor(r.name)}'>{html.escape(r.title)}</a>" if r.path else html.escape(r.name),
             "state": {"ran": "✓ ran", "failed": "✗ failed"}.get(r.state, r.state),
             "time": "-" if r.seconds is None else f"{r.seconds:.0f} s",
             "where it stopped": html.escape(r.failure or "")} for r in runs]
    head = "".join(f"<th>{h}</th>" for h in rows[0]) if rows else ""
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f"<table><caption><b>Notebooks</b></caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def machine_table(machine: dict[str, Any], caption: str) -> str:
    libraries = machine.get("libraries", {})
    rows = [{"field": k, "value": v} for k, v in machine.items() if k != "libraries"]
    rows.append({"field": "libraries", "value": ", ".join(f"{k} {v}" for k, v in libraries.items())})
    return html_table(rows, (("field", "", "{}"), ("value", "", "{}")), caption)


def bench_section(bench: dict[str, Any] | None, figures: Path) -> str:
    """The benchmark table, its parameters and notes, the speedup figure, and the machine."""
    from helpers.machine import describe_machine

    if bench is None:
        return ("<h2>Benchmark</h2><p>No benchmark results: notebook 05 did not write "
                f"<code>{FIGURES_DIR}/{BENCH_FILE}</code> in this work directory.</p>"
                + machine_table(describe_machine(), "Machine this report was written on"))
    parts = ["<h2>Benchmark (notebook 05)</h2>",
             html_table([r for r in bench.get("rows", []) if not r.get("skipped")], BENCH_COLUMNS,
                        "Latency per engine: median, p90, p99 over timed runs; accuracy vs eager")]
    parameters = bench.get("parameters", {})
    if parameters:
        shown = ", ".join(f"{k}={v}" for k, v in parameters.items() if k in
                          ("model", "batches", "repeats", "warmup", "interleaved", "block", "settle_ms", "torch_threads"))
        parts.append(f"<p>Parameters: {html.escape(shown)}</p>")
    notes = [f"skipped: {r['engine']} ({r['precision']}, batch {r['batch']}): {r['skipped']}"
             for r in bench.get("rows", []) if r.get("skipped")] + list(bench.get("notes", []))
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(str(n))}</li>" for n in notes) + "</ul>")
    figure = figures / SUMMARY_FIGURE
    if figure.is_file():
        data = base64.b64encode(figure.read_bytes()).decode()
        parts.append(f"<p><img alt='speedup over eager' src='data:image/png;base64,{data}'></p>")
    parts.append(machine_table(bench.get("machine", {}), "Machine the benchmark was measured on"))
    return "\n".join(parts)


def endpoint_section(endpoint: dict[str, Any] | None) -> str:
    rows = (endpoint or {}).get("rows") or []
    if not rows or not isinstance(rows[0], dict):
        return ""
    columns = tuple((key, key.replace("_", " "), "{:.4g}" if isinstance(rows[0][key], float) else "{}")
                    for key in rows[0])
    return "<h2>Endpoints (notebook 05)</h2>" + html_table(rows, columns, "Round trip through the endpoints")


def summary_html(runs: list[NotebookRun], work: Path) -> str:
    figures = work / FIGURES_DIR
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    ran = sum(r.state == "ran" for r in runs)
    from helpers.tags import attendee

    return "\n".join([
        f"<h1>neo-workshop: report of a run by {html.escape(attendee())}</h1>",
        f"<p>Written {html.escape(stamp)} from <code>{html.escape(str(work))}</code>: "
        f"{ran} of {len(runs)} notebooks ran to the end. Every notebook below is the executed copy, "
        "with its outputs and figures.</p>",
        runs_table(runs),
        bench_section(_read_json(figures / BENCH_FILE), figures),
        endpoint_section(_read_json(figures / ENDPOINT_FILE)),
    ])


# --------------------------------------------------------------------------- the file
def combined_notebook(runs: list[NotebookRun], summary: str) -> Any:
    """One notebook: the summary, then each executed notebook's cells under an anchor."""
    import nbformat

    combined = nbformat.v4.new_notebook()
    combined.cells.append(nbformat.v4.new_markdown_cell(summary, id="report-summary"))
    for run in runs:
        if run.path is None:
            continue
        notebook = nbformat.read(run.path, as_version=4)
        for key in ("kernelspec", "language_info"):  # for the exporter's code highlighting
            if key in notebook.metadata:
                combined.metadata.setdefault(key, notebook.metadata[key])
        stem = Path(run.name).stem
        header = f"<hr><a id='{_anchor(run.name)}'></a><p><code>{html.escape(run.name)}</code>: {html.escape(run.state)}"
        header += f" ({html.escape(run.failure)})</p>" if run.failure else "</p>"
        combined.cells.append(nbformat.v4.new_markdown_cell(header, id=f"{stem}-header"))
        for index, cell in enumerate(notebook.cells):
            cell["id"] = f"{stem}-{index}"
            combined.cells.append(cell)
    combined.metadata["title"] = "neo-workshop: report of a run"
    return combined


def export_html(notebook: Any, source_dir: Path = NOTEBOOKS_DIR) -> str:
    """The notebook as one HTML page: JupyterLab styling inlined, images embedded, no CDN."""
    import jinja2
    from nbconvert import HTMLExporter

    base = base_template_dirs()
    exporter = HTMLExporter(template_name="lab", embed_images=True, extra_template_basedirs=base, extra_template_paths=base,
                            extra_loaders=[jinja2.DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})])
    exporter.template_file = "offline.html.j2"
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"path": str(source_dir)}})
    return unique_ids(body)


def base_template_dirs() -> list[str]:
    """nbconvert's templates where the base environment installed them, for a venv built on it.

    SageMaker Studio's kernel (`make kernel`) is a `--system-site-packages` venv on the image's
    Python: it imports the image's nbconvert, but Jupyter looks for templates under the venv's
    own prefix only, and finds no `lab` template there.
    """
    base = Path(sys.base_prefix) / "share" / "jupyter" / "nbconvert" / "templates"
    return [str(base)] if sys.prefix != sys.base_prefix and base.is_dir() else []


def unique_ids(page: str) -> str:
    """Number repeated element ids (every lesson has a "Clean up" heading): each anchor is unique.

    The first keeps its id, so links into the first notebook still work; later ones get -2, -3...
    and their heading links (href="#id" right after) follow them.
    """
    import re

    seen: dict[str, int] = {}

    def renumber(match: re.Match[str]) -> str:
        ident = match.group(2)
        seen[ident] = seen.get(ident, 0) + 1
        new = ident if seen[ident] == 1 else f"{ident}-{seen[ident]}"
        return f"{match.group(1)}{new}{match.group(3)}" + (match.group(4).replace(f"#{ident}", f"#{new}")
                                                             if match.group(4) else "")

    return re.sub(r'(<h[1-6][^>]*\bid=")([^"]+)(")([^<]*<a[^>]*href="#[^"]+")?', renumber, page)


def write_report(work: Path, lessons: list[str] | None = None, since: float | None = None,
                 source_dir: Path = NOTEBOOKS_DIR) -> Path:
    """Write `<work>/report.html` from the executed notebooks and results; return its path.

    `lessons` are the notebook file names in order (default: the workshop's); `since` is the
    run's start (seconds since the epoch): executed copies older than that are left out.
    """
    if lessons is None:
        from helpers.runner import workshop_notebooks

        lessons = [p.name for p in workshop_notebooks()]
    runs = collect_runs(work, lessons, since)
    from helpers.run_record import write_record

    write_record(work, runs)  # report.json beside report.html: `python -m helpers room` reads it
    page = export_html(combined_notebook(runs, summary_html(runs, work)), source_dir)
    path = work / REPORT_NAME
    path.write_text(page, encoding="utf-8")
    return path

"""The benchmark's report and command line: `python -m helpers bench`, the table, bench.json."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import warnings
from pathlib import Path

from helpers.bench.engines import ALL_ENGINES, DEFAULT_ENGINES, UNDER_TEST
from helpers.bench.run import (
    DEFAULT_BATCHES,
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    BenchResult,
    run_benchmark,
)
from helpers.bench.targets import check_targets, format_checks
from helpers.bench.timing import DEFAULT_BLOCK, DEFAULT_SETTLE_MS
from helpers.display import Column, table_text
from helpers.models import DEFAULT_MODEL

TABLE_COLUMNS = (
    Column("engine"),
    Column("precision", "prec"),
    Column("batch"),
    Column("median_ms", "median ms", "{:.2f}"),
    Column("p90_ms", "p90 ms", "{:.2f}"),
    Column("p99_ms", "p99 ms", "{:.2f}"),
    Column("throughput_ips", "img/s", "{:.1f}"),
    Column("speedup_vs_eager", "speedup", "{:.2f}x"),
    Column("max_abs_dprob", "max|Δprob|", "{:.1e}"),
    Column("top1_agree", "top-1", "{:.0%}"),
    Column("setup_s", "setup s", "{:.1f}"),
    Column("page_faults_per_run", "faults/run"),
)


def format_table(result: BenchResult) -> str:
    """The rows as a fixed-width text table, with the machine and any notes/skips below it."""
    lines = table_text(result.rows, TABLE_COLUMNS).splitlines()
    machine = result.machine
    libs = machine["libraries"]
    lines.append("")
    lines.append(
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['os']}, python {machine['python']}; "
        f"torch {libs['torch']}, openvino {libs['openvino']}, onnxruntime {libs['onnxruntime']}"
    )
    p = result.parameters
    lines.append(
        f"model {p['model']}; {p['repeats']} timed runs per engine after {p['warmup']} warm-up, "
        + (f"interleaved: shuffled turns of {p['block']} timed runs, each after {p['settle_ms']:g} ms of untimed runs"
           if p["interleaved"] else "sequential")
        + f"; accuracy vs eager on {len(p['images'])} sample images"
    )
    compiled: dict[str, list[str]] = {}
    for r in result.rows:
        if r["compile_s"] is not None:
            compiled.setdefault(f"{r['engine']} ({r['precision']})", []).append(
                f"{r['compile_s']:.1f} s (batch {r['batch']})"
            )
    if compiled:
        lines.append("compile/export wall time: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in compiled.items()))
    lines.extend(f"skipped: {r['engine']} ({r['precision']}, batch {r['batch']}): {r['skipped']}"
                 for r in result.rows if r["skipped"])
    lines.extend(f"note: {note}" for note in result.notes)
    return "\n".join(lines)


def save_results(result: BenchResult, out_dir: Path) -> Path:
    """Write the whole result (rows, samples, machine, parameters) to `out_dir/bench.json`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "bench.json"
    path.write_text(json.dumps(result.to_dict(), indent=2))
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers bench",
        description="Trace, compile with the local Neo, and time it against eager PyTorch and its peers.",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="timed runs per engine and batch")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed runs per engine first")
    parser.add_argument("--batch", type=int, nargs="+", default=list(DEFAULT_BATCHES), help="batch sizes")
    parser.add_argument("--engines", nargs="+", default=None, choices=ALL_ENGINES,
                        help=f"default: {' '.join(DEFAULT_ENGINES)}")
    parser.add_argument("--no-bf16", action="store_true",
                        help="do not add the bf16 twins of the engines (added where the CPU has native bf16)")
    parser.add_argument("--sequential", action="store_true", help="time engines one after another, not interleaved")
    parser.add_argument("--block", type=int, default=DEFAULT_BLOCK,
                        help="timed runs per engine per turn when interleaving")
    parser.add_argument("--settle-ms", type=float, default=DEFAULT_SETTLE_MS,
                        help="untimed runs at the start of each turn, so the previous engine's threads go idle")
    parser.add_argument("--json", action="store_true", help="print only a JSON list of rows")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: <repo>/work (results go to bench/)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m helpers bench ...`: print the table (or JSON rows) and save bench.json."""
    from helpers.paths import work_dir

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    out_dir = work_dir(args.work_dir) / "bench"
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext(), warnings.catch_warnings():
        # TorchScript's deprecation notice, once per convert: notebook 01 explains it, here it is noise
        warnings.filterwarnings("ignore", message=r".*(torch\.jit|TorchScript).*deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r".*TorchScript", category=DeprecationWarning)
        result = run_benchmark(
            args.model, engines=args.engines, batches=args.batch, repeats=args.repeats,
            warmup=args.warmup, work_dir=out_dir, interleave=not args.sequential, block=args.block,
            settle_ms=args.settle_ms, bf16=not args.no_bf16,
        )
    result.parameters["wall_s"] = round(time.perf_counter() - started, 1)
    saved = save_results(result, out_dir)
    if args.json:
        print(json.dumps(result.rows, indent=2))
        return 0
    print(format_table(result))
    print(f"\ncompiled-model target at batch 1 ({UNDER_TEST} fp32):")
    print(format_checks(check_targets(result.rows)))
    print(f"\ntotal {result.parameters['wall_s']:.0f} s; results saved to {saved}")
    return 0

"""The workshop's performance claim for the compiled model, checked against a benchmark's rows.

Reported (by `python -m helpers bench` and notebook 05), never asserted in tests: speed depends
on the machine, correctness does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpers.bench.engines import REFERENCE_ENGINE, UNDER_TEST

TARGET_SPEEDUP_VS_EAGER = 3.0
TARGET_PEER_MARGIN = 0.10
TARGET_MAX_DPROB = 1e-3


def check_targets(rows: Sequence[dict[str, Any]], batch: int = 1) -> list[dict[str, Any]]:
    """The workshop's claim for the compiled model at `batch`, checked: a list of named results.

    neo-local fp32 should be >= 3x faster than eager, within 10% of the fastest *fp32* peer
    (reduced-precision rows are a different trade-off and never count), and agree with eager
    (max |Δprob| <= 1e-3, same top-1).
    """
    timed = [r for r in rows if r["batch"] == batch and r["median_ms"] is not None]
    neo = next((r for r in timed if r["engine"] == UNDER_TEST and r["precision"] == "fp32"), None)
    if neo is None:
        return [{"check": f"{UNDER_TEST} fp32 at batch {batch}", "value": "not measured", "target": "-", "ok": False}]
    peers = [r for r in timed if r["precision"] == "fp32" and r["engine"] not in (UNDER_TEST, REFERENCE_ENGINE)]
    checks = [{
        "check": "speedup vs eager",
        "value": f"{neo['speedup_vs_eager']:.2f}x" if neo["speedup_vs_eager"] else "n/a",
        "target": f">= {TARGET_SPEEDUP_VS_EAGER:.0f}x",
        "ok": bool(neo["speedup_vs_eager"] and neo["speedup_vs_eager"] >= TARGET_SPEEDUP_VS_EAGER),
    }]
    if peers:
        fastest = min(peers, key=lambda r: r["median_ms"])
        ratio = neo["median_ms"] / fastest["median_ms"]
        checks.append({
            "check": f"vs fastest fp32 peer ({fastest['engine']}, {fastest['median_ms']:.2f} ms)",
            "value": f"{neo['median_ms']:.2f} ms = {ratio:.2f}x its latency",
            "target": f"<= {1 + TARGET_PEER_MARGIN:.2f}x",
            "ok": ratio <= 1 + TARGET_PEER_MARGIN,
        })
    checks.append({
        "check": "max |Δprob| vs eager",
        "value": f"{neo['max_abs_dprob']:.2g}",
        "target": f"<= {TARGET_MAX_DPROB:g}",
        "ok": neo["max_abs_dprob"] is not None and neo["max_abs_dprob"] <= TARGET_MAX_DPROB,
    })
    checks.append({
        "check": "top-1 agreement with eager",
        "value": f"{neo['top1_agree']:.0%}",
        "target": "100%",
        "ok": neo["top1_agree"] == 1.0,
    })
    return checks


def format_checks(checks: Sequence[dict[str, Any]]) -> str:
    """One PASS/FAIL line per check, for the command line."""
    return "\n".join(
        f"  [{'PASS' if c['ok'] else 'FAIL'}] {c['check']}: {c['value']} (target {c['target']})" for c in checks
    )

"""Interleaved timing: engines take short, shuffled turns, so machine noise hits them all alike.

This workshop's VMs drift by 10-25% within seconds and share their cores with neighbours; timing
one engine after another would hand the drift to whichever ran last. Here every engine gets
warm-up runs first, then rounds of `block` timed runs in a new (seeded) order each round, each
turn after `settle_ms` of untimed runs so the previous engine's worker threads have gone idle.
`CpuCompetition` measures how much CPU other processes took meanwhile.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from helpers.bench.engines import Engine

DEFAULT_BLOCK = 5  # timed runs per engine per turn when interleaving
DEFAULT_SETTLE_MS = 100.0  # untimed runs at the start of each turn, until the previous engine's threads idle
BUSY_SHARE = 0.10  # other processes' share of the CPU while timing above which we warn


def time_engines(
    engines: Sequence[Engine],
    batch: np.ndarray,
    *,
    repeats: int,
    warmup: int,
    interleave: bool = True,
    block: int = DEFAULT_BLOCK,
    settle_ms: float = DEFAULT_SETTLE_MS,
) -> dict[str, list[float]]:
    """Latency samples in ms per engine label: warm-up, then `repeats` timed runs each.

    Interleaved (the default): engines take turns of up to `block` timed runs, in a new
    (seeded) random order every round, so slow drifts and noisy neighbours spread evenly and no
    engine always follows the same one. Each turn starts with untimed runs for `settle_ms`:
    after a call, onnxruntime's worker threads keep spinning on a core for ~50 ms (measured:
    an OpenVINO run right after one took 20-34 ms instead of 12), and the next engine would pay
    for it. Sequential runs all of one engine, then the next. GC is paused while timing.
    """
    runnable = [e for e in engines if e.run is not None]
    for engine in runnable:
        for _ in range(warmup):
            engine.run(batch)
    samples: dict[str, list[float]] = {e.label: [] for e in runnable}
    turns = schedule(runnable, repeats, block) if interleave else [(e, repeats) for e in runnable]
    settle_ns = settle_ms * 1e6 if interleave and len(runnable) > 1 else 0
    gc.collect()
    gc.disable()
    try:
        for engine, timed in turns:
            settle_from = time.perf_counter_ns()
            while time.perf_counter_ns() - settle_from < settle_ns:
                engine.run(batch)
            faults_before = _minor_faults()
            for _ in range(timed):
                started = time.perf_counter_ns()
                engine.run(batch)
                samples[engine.label].append((time.perf_counter_ns() - started) / 1e6)
            engine.page_faults += _minor_faults() - faults_before
            engine.timed_runs += timed
    finally:
        gc.enable()
    return samples


def _minor_faults() -> int:
    """Minor page faults of this process so far (0 where the OS does not count them).

    A runtime that allocates its activations afresh on every call (eager PyTorch: ~3,500 faults
    per EfficientNet-Lite0 call, ~14 MB) pays the kernel for each new page, which is slow and
    erratic in a VM; a compiled model plans its memory once and faults nothing.
    """
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def schedule(engines: Sequence[Any], repeats: int, block: int, seed: int = 0) -> list[tuple[Any, int]]:
    """(engine, timed runs) turns: rounds of up to `block` runs per engine, each round shuffled."""
    rng = random.Random(seed)
    turns: list[tuple[Any, int]] = []
    done = 0
    while done < repeats:
        size = min(max(block, 1), repeats - done)
        order = list(engines)
        rng.shuffle(order)
        turns.extend((engine, size) for engine in order)
        done += size
    return turns


class CpuCompetition:
    """Share of the machine's CPU time that *other* processes used during a `with` block.

    System-wide busy time minus this process's own CPU time (hypervisor steal counted as
    competition too), over wall time x cores: 0.0 on an idle machine, 0.5 when others took
    half of it. A load average cannot tell our own threads from a neighbour's; this can.
    """

    share: float = 0.0

    def __enter__(self) -> CpuCompetition:
        import psutil

        self._process = psutil.Process()
        self._system, self._own = psutil.cpu_times(), self._process.cpu_times()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import psutil

        wall = time.perf_counter() - self._started
        system, own = psutil.cpu_times(), self._process.cpu_times()
        idle = ("idle", "iowait")
        busy = sum(
            getattr(system, f) - getattr(self._system, f) for f in system._fields if f not in idle
        )
        mine = (own.user - self._own.user) + (own.system - self._own.system)
        capacity = wall * (psutil.cpu_count() or 1)
        self.share = max(0.0, min(1.0, (busy - mine) / capacity)) if capacity > 0 else 0.0

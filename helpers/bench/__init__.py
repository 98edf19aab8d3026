"""Honest latency measurement: the compiled model against the runtimes a user could pick instead.

What makes a number honest here:
- every engine gets warm-up runs first (lazy allocation, JIT code generation, caches);
- timed runs are *interleaved*: engines take short turns in a shuffled order, so a noisy
  neighbour or a slow drift of the machine (this workshop's VMs drift by 10-25% within seconds)
  hits all engines alike; each turn starts with untimed runs until the previous engine's
  worker threads have stopped spinning;
- we measure how much CPU *other* processes took while timing, and say so when it is too much;
- we report the median and the tail (p90, p99), never a best run or a mean alone;
- every engine's answers are checked against eager PyTorch on 240 variants of the sample photos
  (crops, flips, scales, brightness: `inputs`), because a fast wrong answer is worth nothing;
- the machine (CPU, cores, library versions) is recorded with the numbers.

One module per concern; notebook 05 and `python -m helpers bench` use the names below:

    engines   the engines (eager, TorchScript, neo-local, torch.compile, ONNX Runtime, OpenVINO)
    timing    interleaved timing, CPU competition
    stats     percentiles, speedup, throughput, agreement with eager
    inputs    the inputs agreement is measured on (agreement_inputs in bench.json)
    run       run_benchmark: build, time and check every engine at every batch size;
              run_artifacts: several compiled artifacts (one per target) against eager
    targets   the workshop's claim for the compiled model, checked
    report    the text table, bench.json, the command line

Endpoint round trips are timed by `helpers.endpoints.time_endpoint`, next to the endpoints.
"""

from helpers.bench.engines import ALL_ENGINES, BF16_ENGINES, DEFAULT_ENGINES
from helpers.bench.report import format_table, main, save_results
from helpers.bench.run import BenchResult, run_artifacts, run_benchmark
from helpers.bench.stats import speedup, summarize, throughput
from helpers.bench.targets import check_targets, format_checks

__all__ = [
    "ALL_ENGINES", "BF16_ENGINES", "DEFAULT_ENGINES", "BenchResult", "check_targets", "format_checks",
    "format_table", "main", "run_artifacts", "run_benchmark", "save_results", "speedup", "summarize", "throughput",
]

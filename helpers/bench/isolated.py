"""One compiled artifact in a process of its own, capped at its target's instruction set (client side).

oneDNN, which runs OpenVINO's CPU kernels, reads `ONEDNN_MAX_CPU_ISA` once per process, when it
first runs, so one process runs every artifact at one cap. To time `ml_c4`'s artifact with
Haswell's AVX2 beside `ml_c5`'s with AVX-512, notebook 06 gives each artifact a process started
with its own cap (`target_cpus.isa_environment`): spawned, so none of this process's OpenVINO is
carried over. An inference is a call over a pipe, so a timed call includes that round trip (tens
of microseconds, measured by `pipe_round_trip_ms`). The worker exits when told to, when the pipe
closes, or with this process (it is a daemon): nothing is left running.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from helpers import target_cpus

START_TIMEOUT_S = 120.0  # loading and compiling an artifact takes about a second; a stuck start is an error
_ENV_LOCK = threading.Lock()  # os.environ is process-wide: one spawn at a time sets the child's cap


def _serve(conn: Any, directory: str) -> None:
    """The worker: load the artifact, say what runs it, then answer ("input", x) / ("run",) / ("ping",) / None."""
    from helpers.runtime import load_compiled_model

    try:
        model = load_compiled_model(Path(directory))
    except Exception as exc:  # noqa: BLE001 - any load failure is reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"))
        return
    kernels = model.kernels() if hasattr(model, "kernels") else {}
    conn.send(("ready", model.runtime, getattr(model, "isa", ""), kernels))
    x = None
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        if message[0] == "input":
            x = message[1]
        elif message[0] == "run":
            conn.send(model.run(x)[0])
        else:
            conn.send("pong")


@contextlib.contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    """os.environ with `extra` set, restored afterwards (what a spawned child inherits)."""
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in extra}
        os.environ.update(extra)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class IsolatedArtifact:
    """An artifact loaded in its own process with its target's ISA cap; `run(x)` is one inference there."""

    def __init__(self, directory: Path, environment: dict[str, str] | None = None) -> None:
        directory = Path(directory)
        self.environment = target_cpus.directory_isa_environment(directory) if environment is None else environment
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        with _environment(self.environment):
            self._process = context.Process(target=_serve, args=(child, str(directory)), daemon=True,
                                            name=f"neo-workshop-artifact-{directory.name}")
            self._process.start()
        child.close()
        self._last: np.ndarray | None = None
        if not self._conn.poll(START_TIMEOUT_S):
            self.close()
            raise RuntimeError(f"{directory}: its worker process did not load it within {START_TIMEOUT_S:.0f} s.")
        reply = self._conn.recv()
        if reply[0] == "error":
            self.close()
            raise RuntimeError(reply[1])
        _, self.runtime, self.isa, self.kernels = reply

    def run(self, x: np.ndarray) -> np.ndarray:
        """One inference in the worker (the input is sent only when it changes)."""
        if x is not self._last:
            self._conn.send(("input", np.ascontiguousarray(x, np.float32)))
            self._last = x
        self._conn.send(("run",))
        return self._conn.recv()

    def pipe_round_trip_ms(self, calls: int = 50) -> float:
        """Median time of an empty call to the worker: what each timed inference carries on top."""
        times = []
        for _ in range(calls):
            started = time.perf_counter_ns()
            self._conn.send(("ping",))
            self._conn.recv()
            times.append((time.perf_counter_ns() - started) / 1e6)
        return float(np.median(times))

    def close(self) -> None:
        """Stop the worker and wait for it (terminate it if it does not exit within 5 s)."""
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send(None)
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()


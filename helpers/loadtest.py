"""`python -m helpers loadtest`: concurrent clients against one local endpoint, on loopback only.

What a serving stack does under load is a different question from a model's latency: requests
queue, threads contend for the same cores, errors appear only when several clients arrive at
once. This deploys the uncompiled workshop model to one local endpoint, sends the same photo
from 1, 4 and 8 concurrent clients (bounded in count and time), prints latency percentiles,
throughput and errors per level, and deletes the endpoint again, whatever happens.
It refuses the `aws` backend: hammering a billable endpoint is not something to do by accident.
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENDPOINT = "neo-workshop-loadtest"
IMAGE = "neo-workshop/local-model-server:pytorch-cpu"
WARMUP_REQUESTS = 5


@dataclass
class Level:
    """The outcome of one concurrency level."""

    clients: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        from helpers.bench import summarize

        stats = summarize(self.latencies_ms) if self.latencies_ms else {"median": 0, "p90": 0, "p99": 0}
        return {"clients": self.clients, "requests": len(self.latencies_ms) + len(self.errors),
                "errors": len(self.errors), "median ms": round(stats["median"], 1),
                "p90 ms": round(stats["p90"], 1), "p99 ms": round(stats["p99"], 1),
                "requests/s": round(len(self.latencies_ms) / self.seconds, 1) if self.seconds else 0.0}


def run_level(make_client: Any, clients: int, requests: int, body: bytes, max_seconds: float) -> Level:
    """`requests` invocations spread over `clients` threads, stopping early at `max_seconds`."""
    level = Level(clients)
    lock = threading.Lock()
    remaining = iter(range(requests))
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        runtime = make_client()  # one client per thread, as a real load generator would
        while time.monotonic() < deadline:
            with lock:
                if next(remaining, None) is None:
                    return
            started = time.perf_counter()
            try:
                response = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/x-image",
                                                   Accept="application/json", Body=body)
                response["Body"].read()
                with lock:
                    level.latencies_ms.append((time.perf_counter() - started) * 1e3)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                with lock:
                    level.errors.append(f"{type(exc).__name__}: {exc}")

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(worker)
    level.seconds = time.monotonic() - started
    return level


def deploy(backend: Any, archive: Path) -> None:
    """Upload the model archive and bring up the load-test endpoint (deleting a leftover first)."""
    from helpers.endpoints import delete_workshop_endpoints, deploy, wait_for_endpoints

    sm = backend.client("sagemaker")
    delete_workshop_endpoints(sm, ENDPOINT)
    uri = backend.s3_uri("loadtest", archive.name)
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    backend.client("s3").upload_file(str(archive), bucket, key)
    deploy(sm, ENDPOINT, uri, IMAGE, backend.role_arn, "ml.c5.xlarge")
    wait_for_endpoints(sm, [ENDPOINT])


def model_archive(work: Path) -> Path:
    """Notebook 01's model.tar.gz, or one built here (trace + package, ~5 s) when it has not run."""
    from helpers import paths

    recorded = paths.load_state(work).get("model_archive")
    if recorded and Path(recorded).exists():
        return Path(recorded)
    import torch

    from helpers.models import load_model
    from helpers.packaging import build_model_archive
    from helpers.tracing import trace_model

    model, spec = load_model()
    model_file = work / "loadtest" / "model.pth"
    trace_model(model, torch.zeros(spec.input_shape), model_file)
    return build_model_archive(model_file, spec, work / "loadtest" / "model.tar.gz")


def run(work_dir: Path | None, levels: list[int], requests: int, max_seconds: float,
        archive: Path | None = None) -> list[Level]:
    """Deploy, run every level, delete the endpoint; return the levels."""
    from botocore.config import Config

    from helpers import aws
    from helpers.endpoints import delete_workshop_endpoints
    from helpers.images import sample_images

    backend = aws.connect("local", work_dir)
    if not backend.is_local:
        raise RuntimeError("The load test runs only on the local backend (a real endpoint bills per hour).")
    body = sample_images()[0].read_bytes()
    config = Config(max_pool_connections=max(levels), read_timeout=120, retries={"max_attempts": 0})
    try:
        deploy(backend, archive or model_archive(backend.work_dir))

        def make_client() -> Any:
            return backend.session.client("sagemaker-runtime", config=config)

        run_level(make_client, 1, WARMUP_REQUESTS, body, max_seconds)  # first requests load lazily: untimed
        return [run_level(make_client, clients, requests, body, max_seconds) for clients in levels]
    finally:
        delete_workshop_endpoints(backend.client("sagemaker"), ENDPOINT)


def main(argv: list[str] | None = None) -> int:
    from helpers.display import table_text
    from helpers.machine import describe_machine

    parser = argparse.ArgumentParser(prog="python -m helpers loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8], help="concurrency levels")
    parser.add_argument("--requests", type=int, default=200, help="invocations per level")
    parser.add_argument("--max-seconds", type=float, default=60, help="time cap per level")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    levels = run(args.work_dir, args.clients, args.requests, args.max_seconds)
    print(table_text([level.row() for level in levels]))
    machine = describe_machine()
    print("measured on:", ", ".join(f"{k} {v}" for k, v in machine.items()))
    for level in levels:
        for error in sorted(set(level.errors))[:5]:
            print(f"  {level.clients} clients: {error}")
    return 1 if any(level.errors for level in levels) else 0

"""The local AWS backend process: `python -m helpers.local.server --work-dir DIR`.

One process serves two ports on 127.0.0.1:
- moto (S3, IAM, SageMaker control plane), with the compilation and hosting services patched
  into its classes. moto runs in THIS process, not as `moto_server`, because the services are
  monkey-patches: they only apply to moto objects living in the interpreter that patched them.
- the SageMaker *runtime* gateway (InvokeEndpoint), which boto3 reaches through
  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME because the real runtime is a different host.

`helpers.local.control` starts it detached and finds it through the run file, written last,
once both ports answer, so a run file always describes a server that was ready.

Both servers bind port 0 (the kernel picks a free port as it binds), so no other process can
take a port between its choice and the bind. While it runs the backend watches its run file:
once that is gone or names another process (`rm -r work`, a newer backend for the same work
directory) nobody can find this one any more, so it stops with its model servers instead of
running on as an orphan. At start and at stop it deletes what only a running backend can use
(endpoint model data, compilation scratch files): S3 and SageMaker state live in memory.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from helpers.local import account_service, gateway, response_shapes, run_file, wsgi_server
from helpers.local.compilation_service import SCRATCH_DIR, CompilationService
from helpers.local.endpoint_logs import EndpointLogs
from helpers.local.endpoint_metrics import EndpointMetrics
from helpers.local.hosted_endpoint import LOG_NAME
from helpers.local.hosting_service import HostingService
from helpers.local.processes import answers
from helpers.local.run_file import RunInfo
from helpers.local_names import FIDELITIES, HOST
from helpers.polling import wait_until

ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")
log = logging.getLogger("helpers.local.server")


class RequestErrorsOnly(logging.Filter):
    """Keep werkzeug's errors and its 4xx/5xx request lines; drop the 200s that would bury them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) != 3 or str(args[1])[:1] not in ("4", "5"):
            return False
        record.args = (ANSI_STYLE.sub("", str(args[0])), *args[1:])  # a log file, not a terminal
        return True


def configure_logging() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").addFilter(RequestErrorsOnly())
    # Neo reads TorchScript, which torch deprecates: said once in the notebooks, not per job here.
    warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated")


def wait_until_answering(urls: list[str], timeout: float = 30) -> None:
    wait_until(lambda: all(answers(url) for url in urls), timeout_s=timeout, interval_s=0.1,
               timeout_message=f"The servers at {urls} did not answer within {timeout:.0f} s.")


def start_moto(timeout: float = 30) -> Any:
    """moto's threaded server on a port the kernel picks as it binds (port 0): no collision possible."""
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    starter = threading.Thread(target=moto.start, daemon=True)  # start() waits forever if the bind fails
    starter.start()
    starter.join(timeout)
    if starter.is_alive():
        raise RuntimeError(f"moto did not start on {HOST} within {timeout:.0f} s (see the traceback above).")
    return moto


def start_gateway(hosting: HostingService, metrics: EndpointMetrics | None = None, timing_header: bool = True) -> Any:
    """The runtime gateway on a port the kernel picks as it binds (port 0), serving in a thread.

    It records every invocation's latencies in `metrics`, which moto's CloudWatch, in this same
    process, serves as SageMaker's endpoint metrics (helpers.local.endpoint_metrics).
    """
    app = gateway.make_app(hosting, timing_header=timing_header, metrics=metrics)
    runtime = wsgi_server.make_server(app)  # keeps boto3's connection alive, as SageMaker's runtime does
    wsgi_server.serve_in_thread(runtime, "runtime-gateway")
    return runtime


def orphaned(info: RunInfo) -> str | None:
    """Why nobody can find this backend any more (None while its run file names it)."""
    recorded = run_file.read_run_file(Path(info.work_dir))
    if recorded is None:
        return f"{run_file.run_file(Path(info.work_dir))} is gone (rm -r of the work directory?)"
    if recorded.pid != info.pid:
        return f"{run_file.run_file(Path(info.work_dir))} now names another backend (pid {recorded.pid})"
    return None


def clear_scratch(state_dir: Path, hosting: HostingService) -> None:
    """Delete what only a running backend uses: compilation scratch files, endpoint model data."""
    shutil.rmtree(state_dir / SCRATCH_DIR, ignore_errors=True)
    hosting.clear_leftovers()


def serve(work_dir: Path, fidelity: str = "local") -> int:
    """Run the backend until SIGTERM/SIGINT or until it is orphaned; return the exit code."""
    configure_logging()
    work_dir.mkdir(parents=True, exist_ok=True)
    run_file.state_dir(work_dir).mkdir(parents=True, exist_ok=True)
    log.info("local backend pid %d starting for %s", os.getpid(), work_dir)
    info = RunInfo(pid=os.getpid(), endpoint_url="", runtime_url="", work_dir=str(work_dir),
                   started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), fidelity=fidelity)
    # before moto starts, so every request sees the patched classes
    compilation = CompilationService(info).install()
    hosting = HostingService(info).install()
    response_shapes.install()  # no empty structures SageMaker never sends
    metrics = EndpointMetrics(info.account_id, info.region).install()  # AWS/SageMaker, in moto's CloudWatch
    EndpointLogs(hosting.endpoints_dir, LOG_NAME, hosting.variant_of).install()  # model-server logs, in its Logs
    account_service.install(info.aws_fidelity)  # IAM policy simulation, SageMaker's quotas (check-account)
    clear_scratch(info.state_dir, hosting)  # left by a backend that was killed

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    moto, runtime = start_moto(), start_gateway(hosting, metrics, timing_header=not info.aws_fidelity)
    info.endpoint_url = f"http://{HOST}:{moto.get_host_and_port()[1]}"
    info.runtime_url = f"http://{HOST}:{runtime.server_port}"

    wait_until_answering([info.endpoint_url, info.runtime_url])
    run_file.write_run_file(info)
    log.info("ready (%s fidelity): moto %s, runtime gateway %s", fidelity, info.endpoint_url, info.runtime_url)

    reason = None
    while not stopping.wait(0.5) and not (reason := orphaned(info)):
        pass
    if reason:
        log.warning("%s: nobody can find this backend any more, stopping it and its model servers", reason)
    shutdown(info, runtime, moto, compilation, hosting, own_files=reason is None)
    return 0


def shutdown(info: RunInfo, runtime: Any, moto: Any, compilation: CompilationService, hosting: HostingService,
             own_files: bool = True) -> None:
    """Stop in dependency order: no new invocations, jobs and model servers, then moto.

    `own_files` is False for an orphaned backend: its work directory may already belong to
    another backend, whose files it must not delete.
    """
    log.info("stopping")
    if own_files:
        run_file.run_file(Path(info.work_dir)).unlink(missing_ok=True)  # nobody should find a server going away
    runtime.shutdown()
    compilation.stop_all()
    try:
        hosting.stop_all(remove_files=own_files)
        if own_files:
            clear_scratch(info.state_dir, hosting)
    except Exception:  # noqa: BLE001 - a failing service must not keep moto (and the port) alive
        log.exception("stopping the local endpoints failed")
    moto.stop()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.local.server", description=__doc__)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--fidelity", choices=FIDELITIES, default="local",
                        help="'aws': outputs take real AWS's shapes (the stand-in CI runs the aws branch against)")
    args = parser.parse_args(argv)
    return serve(args.work_dir.resolve(), args.fidelity)


if __name__ == "__main__":
    sys.exit(main())

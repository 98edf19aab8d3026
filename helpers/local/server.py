"""The local AWS backend process: `python -m helpers.local.server --work-dir DIR`.

One process serves two ports on 127.0.0.1:
- moto (S3, IAM, SageMaker control plane), with the local Neo and local hosting hooks patched
  into its classes. moto runs in THIS process, not as `moto_server`, because the hooks are
  monkey-patches: they only apply to moto objects living in the interpreter that patched them.
- the SageMaker *runtime* gateway (InvokeEndpoint), which boto3 reaches through
  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME because the real runtime is a different host.

`helpers.local.control` starts it detached and finds it through the run file, written last,
once both ports answer, so a run file always describes a server that was ready.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from helpers.local import control, neo
from helpers.local.context import HOST, LocalContext, free_port

ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")
log = logging.getLogger("helpers.local.server")

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]




def unavailable_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """The runtime gateway until local hosting is installed: every call gets a clear 503."""
    body = json.dumps({
        "message": "The local SageMaker runtime is not available in this build "
                   "(helpers.local.hosting / helpers.local.gateway are missing): "
                   "endpoints cannot be invoked locally; use the aws backend."
    }).encode()
    start_response("503 Service Unavailable", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(body)))])
    return [body]


def install_hooks(ctx: LocalContext) -> tuple[Any, WsgiApp]:
    """Patch moto (Neo, then hosting if present); return (hosting registry or None, gateway app)."""
    neo.install(ctx)
    try:
        from helpers.local import gateway, hosting
    except ImportError as exc:
        log.warning("local hosting unavailable (%s): the runtime gateway answers 503", exc)
        return None, unavailable_app
    registry = hosting.install(ctx)
    return registry, gateway.make_app(registry)


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
    deadline = time.monotonic() + timeout
    while not all(control.answers(url) for url in urls):
        if time.monotonic() > deadline:
            raise RuntimeError(f"The servers at {urls} did not answer within {timeout:.0f} s.")
        time.sleep(0.1)


def write_run_file(info: control.RunInfo, work_dir: Path) -> None:
    """Write the run file atomically: readers see the old file, no file, or the whole new one."""
    path = control.run_file(work_dir)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(info.to_json())
    tmp.replace(path)


def serve(work_dir: Path) -> int:
    """Run the backend until SIGTERM/SIGINT; return the exit code."""
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    configure_logging()
    work_dir.mkdir(parents=True, exist_ok=True)
    control.state_dir(work_dir).mkdir(parents=True, exist_ok=True)
    log.info("local backend pid %d starting for %s", os.getpid(), work_dir)
    moto_port, gateway_port = free_port(), free_port()
    ctx = LocalContext(work_dir=work_dir, endpoint_url=f"http://{HOST}:{moto_port}")
    registry, gateway_app = install_hooks(ctx)  # before moto starts: requests see patched classes

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    moto = ThreadedMotoServer(ip_address=HOST, port=moto_port, verbose=False)
    starter = threading.Thread(target=moto.start, daemon=True)  # start() hangs if the bind fails
    starter.start()
    starter.join(30)
    if starter.is_alive():
        raise RuntimeError(f"moto did not start on {HOST}:{moto_port} (see the traceback above).")
    gateway = make_server(HOST, gateway_port, gateway_app, threaded=True)
    threading.Thread(target=gateway.serve_forever, name="runtime-gateway", daemon=True).start()

    runtime_url = f"http://{HOST}:{gateway_port}"
    wait_until_answering([ctx.endpoint_url, runtime_url])
    info = control.RunInfo(
        pid=os.getpid(), endpoint_url=ctx.endpoint_url, runtime_url=runtime_url,
        region=ctx.region, account_id=ctx.account_id, work_dir=str(work_dir),
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    write_run_file(info, work_dir)
    log.info("ready: moto %s, runtime gateway %s", ctx.endpoint_url, runtime_url)

    while not stopping.wait(0.5):
        pass
    shutdown(work_dir, gateway, moto, registry)
    return 0


def shutdown(work_dir: Path, gateway: Any, moto: Any, registry: Any) -> None:
    """Stop in dependency order: no new invocations, jobs and model servers, then moto."""
    log.info("stopping")
    control.run_file(work_dir).unlink(missing_ok=True)  # nobody should find a server going away
    gateway.shutdown()
    neo.stop_all()
    if registry is not None:
        try:
            registry.stop_all()
        except Exception:  # noqa: BLE001 - a failing hook must not keep moto (and the port) alive
            log.exception("stopping the local endpoints failed")
    moto.stop()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.local.server", description=__doc__)
    parser.add_argument("--work-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    return serve(args.work_dir.resolve())


if __name__ == "__main__":
    sys.exit(main())

"""The local backend's model server: the SageMaker inference-container contract, one process.

On AWS, an endpoint runs the SageMaker PyTorch (or Neo) image, whose model server loads
`code/inference.py` from the model archive and answers two routes on port 8080. The local
backend runs this module instead, one process per endpoint, so the workshop's entry script
is exercised through exactly the calls the real container makes:

- `GET /ping`         200 once `model_fn` has returned; 503 while it is still loading.
- `POST /invocations` Content-Type / Accept -> `input_fn` -> `predict_fn` -> `output_fn`
                      (or a single `transform_fn`, as the SageMaker toolkit allows).

Which handler runs, how it is called and what its errors answer follow the SageMaker serving
toolkit (helpers.local.serving_toolkit); the handlers an entry script leaves out, or all of
them without an entry script, are the PyTorch container's defaults
(helpers.local.serving_defaults), so scripts written for those containers run unchanged.

Configuration is the container's environment:

- `SM_MODEL_DIR`             the extracted model.tar.gz (model file + `code/inference.py`);
- `SAGEMAKER_BIND_TO_PORT`   the port to listen on (always on 127.0.0.1 here);
- `SAGEMAKER_PROGRAM`        the entry script in `code/` (default `inference.py`);
- `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`  what a missing or `*/*` Accept means (JSON);
- the other variables the SageMaker Python SDK sets are logged with what they mean here
  (serving_toolkit.describe_environment).

If `model_fn` fails the process logs the traceback and exits non-zero: hosting then marks
the endpoint Failed with the end of the log, as SageMaker does with CloudWatch. The process
also exits when its parent (the local backend) disappears, so a killed backend leaves no
orphan holding a port and a GB of model memory.

Run: `SM_MODEL_DIR=... SAGEMAKER_BIND_TO_PORT=8080 python -m helpers.local.model_server`
"""

from __future__ import annotations

import errno
import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from werkzeug.wrappers import Request, Response

from helpers import target_cpus
from helpers.local import serving_toolkit, wsgi_server
from helpers.local.processes import child_env
from helpers.local_names import HOST

MAX_BODY_BYTES = 20 * 1024 * 1024  # above real SageMaker's 6 MB, so big test images still fit
DEFAULT_ACCEPT = "application/json"
PARENT_PID_ENV = "NEO_WORKSHOP_PARENT_PID"  # set by the launcher; avoids a fork/exec race
PARENT_POLL_S = 0.5
EXIT_BAD_CONFIG = 2
EXIT_MODEL_LOAD_FAILED = 3
EXIT_PARENT_GONE = 4
EXIT_PORT_IN_USE = 5  # another process took the port between the launcher's choice and our bind

log = logging.getLogger("helpers.local.model_server")


class ConfigError(RuntimeError):
    """The container environment is incomplete: the message says which variable to set."""


@dataclass(frozen=True)
class Settings:
    """The container environment, read once at start-up."""

    model_dir: Path
    port: int
    program: str = "inference.py"
    default_accept: str = DEFAULT_ACCEPT

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str]) -> Settings:
        """Read and check the SageMaker variables, naming the one that is missing or wrong."""
        model_dir = env.get("SM_MODEL_DIR")
        port = env.get("SAGEMAKER_BIND_TO_PORT")
        if not model_dir:
            raise ConfigError("SM_MODEL_DIR is not set: point it at the extracted model.tar.gz.")
        if not port or not port.isdigit():
            raise ConfigError(f"SAGEMAKER_BIND_TO_PORT must be a port number, got {port!r}.")
        return cls(
            model_dir=Path(model_dir),
            port=int(port),
            program=env.get("SAGEMAKER_PROGRAM") or "inference.py",
            default_accept=env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or DEFAULT_ACCEPT,
        )

    @property
    def script(self) -> Path:
        return serving_toolkit.entry_script(self.model_dir / "code", self.program)


@dataclass
class ModelState:
    """What the request threads share: the entry script, the loaded model, the load outcome."""

    loaded: threading.Event = field(default_factory=threading.Event)
    module: ModuleType | None = None
    handlers: serving_toolkit.Handlers | None = None
    model: Any = None


# --------------------------------------------------------------------------- loading
def import_entry_script(script: Path) -> ModuleType | None:
    """Import `code/<program>` by file path, with `code/` on sys.path like the SageMaker toolkit.

    Adding the directory lets an entry script import helper modules shipped next to it. No
    script is not an error, as in the toolkit: every handler is then the default one.
    """
    if not script.is_file():
        found = sorted(p.name for p in script.parent.iterdir()) if script.parent.is_dir() else []
        log.warning(
            "Entry script %s not found (code/ holds: %s): serving with the SageMaker PyTorch "
            "container's default handlers; package code/inference.py, or set SAGEMAKER_PROGRAM "
            "to the script's name, to use your own.", script, found,
        )
        return None
    sys.path.insert(0, str(script.parent))
    spec = importlib.util.spec_from_file_location(script.stem, script)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot import {script} as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[script.stem] = module
    spec.loader.exec_module(module)
    return module


def load_model(settings: Settings, state: ModelState, on_failure: Any) -> None:
    """Import the entry script and call model_fn; on failure log why and call `on_failure`."""
    started = time.perf_counter()
    try:
        log.info("loading model from %s with %s", settings.model_dir, settings.script)
        for line in serving_toolkit.describe_environment(os.environ, settings.model_dir):
            log.info("%s", line)
        state.module = import_entry_script(settings.script)
        state.handlers = serving_toolkit.resolve_handlers(state.module, str(settings.model_dir))
        log.info("handlers: %s", state.handlers.describe())
        state.model = state.handlers.load_model()
    except BaseException:  # noqa: BLE001 - any failure must end the process with its reason
        log.error(
            "loading the model failed (entry script import or model_fn), the endpoint cannot "
            "serve:\n%s", traceback.format_exc().rstrip(),
        )
        on_failure()
        return
    runtime = getattr(state.model, "runtime", type(state.model).__name__)
    log.info("model loaded in %.2f s (runtime: %s)", time.perf_counter() - started, runtime)
    state.loaded.set()


# --------------------------------------------------------------------------- requests
def error_response(status: int, message: str, kind: str) -> Response:
    """A JSON error body like the SageMaker model servers' ({code, type, message})."""
    body = json.dumps({"code": status, "type": kind, "message": message})
    return Response(body, status=status, content_type="application/json")


def run_handlers(state: ModelState, body: bytes, content_type: str | None, accept: str) -> Response:
    """The toolkit's request path: transform_fn, or input_fn -> predict_fn -> output_fn."""
    assert state.handlers is not None
    payload, response_type = state.handlers.transform(state.model, body, content_type, accept)
    return Response(payload, status=200, content_type=response_type)


def discard(request: Request, length: int) -> None:
    """Read and drop a refused body, so the client gets our 413 instead of a connection reset
    (closing a socket with unread data makes the kernel send RST)."""
    stream = request.environ["wsgi.input"]
    remaining = min(length, 4 * MAX_BODY_BYTES)
    while remaining > 0 and (chunk := stream.read(min(remaining, 1 << 20))):
        remaining -= len(chunk)


def invoke(request: Request, state: ModelState, settings: Settings) -> Response:
    """POST /invocations: map handler errors to their `status_code`, anything else to 500."""
    if not state.loaded.is_set():
        return error_response(503, "The model is still loading: retry when /ping returns 200.", "ModelNotReady")
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        discard(request, length)
        return error_response(
            413,
            f"Request body of {length} bytes is larger than the {MAX_BODY_BYTES} bytes this "
            "model server accepts: send a smaller image or batch.",
            "PayloadTooLarge",
        )
    body = request.get_data(cache=False)
    content_type = request.headers.get("Content-Type")  # None when absent, as the toolkit has it
    accept = serving_toolkit.resolve_accept(request.headers.get("Accept"), settings.default_accept)
    try:
        return run_handlers(state, body, content_type, accept)
    except Exception as exc:  # noqa: BLE001 - the container answers every error with a status
        status, message, _ = serving_toolkit.error_status(exc)
        if status == 500:
            log.error("invocation failed:\n%s", traceback.format_exc().rstrip())
        return error_response(status, message, type(exc).__name__)


def make_app(state: ModelState, settings: Settings) -> Any:
    """The WSGI app: /ping and /invocations, nothing else."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_BODY_BYTES
        if request.path == "/ping" and request.method == "GET":
            response = Response(b"", status=200 if state.loaded.is_set() else 503)
        elif request.path == "/invocations" and request.method == "POST":
            response = invoke(request, state, settings)
        else:
            response = error_response(
                404, f"No route {request.method} {request.path}: use GET /ping or POST /invocations.", "NotFound"
            )
        return response(environ, start_response)

    return app


# --------------------------------------------------------------------------- launching
def target_isa(model_dir: Path) -> dict[str, str]:
    """ONEDNN_MAX_CPU_ISA for a local Neo artifact's target CPU (compiled.meta), so the endpoint
    runs the kernels that target's instance would (`ml_c4`: AVX2 on an AVX-512 machine); {} otherwise.

    oneDNN reads it once, when the server first loads OpenVINO, hence set at launch; the model's
    own container Environment (CreateModel) comes after it and may override it.
    """
    return target_cpus.directory_isa_environment(model_dir)


def launch(
    model_dir: Path, port: int, log_path: Path, environment: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `python -m helpers.local.model_server` for `model_dir`, appending to `log_path`.

    `environment` is the model's container Environment (from CreateModel); the SageMaker
    variables are set after it so they always win. The child watches this process's pid and
    exits when it is gone. Stop it with `helpers.local.processes.stop_process`. The log is
    appended to, so a replaced or updated server's log keeps what the one before it wrote (as
    an endpoint's CloudWatch log group keeps every instance's stream); its working directory is
    the log's directory.
    """
    sagemaker = {"SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port), PARENT_PID_ENV: str(os.getpid())}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "helpers.local.model_server"],
            env=child_env(target_isa(model_dir), environment or {}, sagemaker),
            cwd=log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


# --------------------------------------------------------------------------- process
def watch_parent(expected_ppid: int) -> None:
    """Exit as soon as the launching process is gone (we were re-parented).

    Polling getppid() is used instead of prctl(PR_SET_PDEATHSIG) because the death signal
    fires when the *thread* that forked us exits, and hosting launches from short-lived threads.
    """
    while True:
        if os.getppid() != expected_ppid:
            log.warning("parent process %d is gone: exiting so no orphan keeps the port", expected_ppid)
            logging.shutdown()
            os._exit(EXIT_PARENT_GONE)
        time.sleep(PARENT_POLL_S)


def configure_logging() -> None:
    """Timestamped lines on stdout (the launcher redirects it to model-server.log)."""
    logging.basicConfig(
        level=serving_toolkit.log_level(os.environ, logging.INFO),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s model-server[%(process)d] %(message)s",
        force=True,
    )
    logging.getLogger(wsgi_server.log.name).setLevel(logging.WARNING)  # no line per request: the log is the handlers'


def listen(port: int) -> socket.socket:
    """Bind and listen on HOST:port ourselves: a server that binds turns a failed bind into an exit, and
    the launcher must know a taken port (EXIT_PORT_IN_USE, it retries) from a broken model."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server's servers set it
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(settings: Settings) -> int:
    """Listen first (so /ping can say 503), load in the background, serve until stopped."""
    state = ModelState()
    try:
        listening = listen(settings.port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.error("port %d is already in use: exiting so the launcher can pick another", settings.port)
        return EXIT_PORT_IN_USE
    server = wsgi_server.make_server(make_app(state, settings), sock=listening)  # closed by server_close()
    failed = threading.Event()

    def on_failure() -> None:
        failed.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    threading.Thread(target=load_model, args=(settings, state, on_failure), daemon=True, name="model-loader").start()
    log.info("listening on http://%s:%d (pid %d)", HOST, settings.port, os.getpid())
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    if failed.is_set():
        log.error("exiting: the model could not be loaded (see the traceback above)")
        return EXIT_MODEL_LOAD_FAILED
    return 0


def main() -> int:
    configure_logging()
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_BAD_CONFIG
    parent = int(os.environ.get(PARENT_PID_ENV) or os.getppid())
    threading.Thread(target=watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())

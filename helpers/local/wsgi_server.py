"""The local backend's HTTP server for its invocation path: the runtime gateway and the model servers.

Both are WSGI apps. werkzeug's development server, which served them before, closes the
connection after every response (werkzeug 3.1 `serving.py`, `WSGIRequestHandler.run_wsgi`:
"Always close the connection. This disables HTTP/1.1 keep-alive connections."), so every
InvokeEndpoint paid for two new TCP connections and two new threads: measured here, a 25 KB POST
took 2.2 ms through it against 1.2 ms through this server. On AWS a boto3 client keeps its
connection to the runtime endpoint (urllib3's pool, botocore's `max_pool_connections`), so that
cost was the local backend's own, and the lesson read it as the client's share of the round trip.

This is the standard library's HTTP/1.1 handler (`http.server`, which keeps a connection open
while the client does), wsgiref's WSGI environ, one thread per connection, TCP_NODELAY on every
connection (Nagle plus delayed ACK would add ~40 ms to a write split in two); the status line,
headers and a small body are sent in one write, and the app's close() runs after it (so work an app
defers there does not delay the client). `RECEIVED_AT` in the environ is when the request line was
read (perf_counter seconds): the gateway's OverheadLatency counts from there, as SageMaker's counts
from receiving the request.
The request body is streamed to the app (`Content-Length`) or decoded first (chunked); whatever
the app left unread is read after it answers, so the next request on the connection starts where
it should. The app's answer is buffered and sent with its Content-Length. moto keeps werkzeug:
its control-plane calls are not what the lessons time.
"""

from __future__ import annotations

import io
import logging
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from helpers.local_names import HOST

log = logging.getLogger("helpers.local.wsgi_server")
RECEIVED_AT = "neo_workshop.received_at"  # environ key: time.perf_counter() when the request line was read
MAX_CHUNKED_BODY = 64 << 20  # a chunked body is decoded in memory: beyond this, 413 and the connection closes
MAX_DRAIN = 64 << 20  # unread body left by the app, read to keep the connection; beyond this it is closed
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Body(io.RawIOBase):
    """The request body as `wsgi.input`: at most Content-Length bytes of the connection."""

    def __init__(self, stream: Any, length: int) -> None:
        super().__init__()
        self.stream, self.remaining = stream, length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.stream.read(wanted) if wanted else b""
        self.remaining -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:  # what werkzeug's LimitedStream reads with
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.stream.readline(wanted) if wanted else b""
        self.remaining -= len(data)
        return data

    def drain(self, limit: int = MAX_DRAIN) -> bool:
        """Read what the app left; False if more than `limit` was left (then close instead)."""
        if self.remaining > limit:
            return False
        while self.remaining and self.read(1 << 20):
            pass
        return self.remaining == 0


def read_chunked(stream: Any, limit: int = MAX_CHUNKED_BODY) -> bytes | None:
    """A chunked request body, decoded (RFC 9112 section 7.1); None if it exceeds `limit`."""
    parts, total = [], 0
    while True:
        size = int(stream.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline(1024).strip():  # trailer fields, up to the empty line
                pass
            return b"".join(parts)
        total += size
        if total > limit:
            return None
        parts.append(stream.read(size))
        stream.readline(8)  # the CRLF after each chunk


class Handler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive: http.server's request loop, wsgiref's environ, a buffered answer."""

    protocol_version = "HTTP/1.1"
    # Buffered writes (http.server flushes after each request): the status line, headers and a
    # small body leave in one send, not one per header block and body.
    wbufsize = 1 << 16

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:  # wsgiref's serves one request per connection; http.server's loops
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        try:
            super(WSGIRequestHandler, self).handle_one_request()  # parses, then calls do_<METHOD>
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def parse_request(self) -> bool:  # http.server calls it right after reading the request line
        self.received_at = time.perf_counter()
        return super().parse_request()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method goes to the app, which answers what it does not serve
            return self.run_app
        raise AttributeError(name)

    def run_app(self) -> None:
        environ = self.get_environ()
        body: Body | None = None
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = read_chunked(self.rfile)
            if data is None:
                self.close_connection = True
                self.answer("413 Content Too Large", [("Content-Type", "text/plain")], b"Request body too large.\n")
                return
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # decoded: the app sees a plain body of known length
            environ.update({"wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data)), "wsgi.input_terminated": True})
        else:
            body = Body(self.rfile, int(self.headers.get("Content-Length") or 0))
            environ["wsgi.input"] = body
        environ.update({RECEIVED_AT: self.received_at, "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
                        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False})
        status, headers, payload, result = self.call(environ)
        try:
            if body is not None and not body.drain():
                self.close_connection = True
            self.answer(status, headers, payload)
        finally:
            self.close_result(result)

    def call(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes, Any]:
        """The app's status, headers, body and its iterable, closed by run_app once the answer is
        written (as wsgiref does: work an app defers to close() does not delay the client)."""
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return lambda data: None  # the legacy write() callable: nothing here uses it

        result = None
        try:
            result = self.server.get_app()(environ, start_response)
            payload = b"".join(result)
            return started[0], started[1], payload, result
        except Exception:  # noqa: BLE001 - an app error is a 500, and the server goes on
            log.exception("%s %s failed", self.command, self.path)
            self.close_connection = True
            self.close_result(result)
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b"Internal Server Error\n", None

    def close_result(self, result: Any) -> None:
        try:
            if hasattr(result, "close"):
                result.close()
        except Exception:  # noqa: BLE001 - the answer is sent; a failing close() is logged, not raised
            log.exception("%s %s: closing the app's response failed", self.command, self.path)

    def answer(self, status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        declared = next((value for name, value in headers if name.lower() == "content-length"), None)
        self.send_header("Content-Length", declared if self.command == "HEAD" and declared else str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()  # now, not after the app's close() (wbufsize buffers the writes)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code)[:1] in ("4", "5"):  # the errors, not a line per invocation
            log.info('"%s" %s', self.requestline, code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.info(format, *args)


class KeepAliveServer(socketserver.ThreadingMixIn, WSGIServer):
    """A thread per connection (daemon threads: an idle kept-alive connection never holds up an exit)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, self.server_address[1]  # no reverse DNS lookup
        self.setup_environ()


def make_server(app: WSGIApp, port: int = 0, sock: socket.socket | None = None) -> KeepAliveServer:
    """Serve `app` on HOST:port (0: the kernel picks one as it binds), or on `sock`, already
    listening (the model server binds it itself, to tell a taken port from a failed load).
    Call `serve_forever()` (in a thread of its own if need be), then `shutdown()` and `server_close()`."""
    server = KeepAliveServer((HOST, port), Handler, bind_and_activate=sock is None)
    if sock is not None:
        server.socket.close()
        server.socket, server.server_address = sock, sock.getsockname()
        server.server_name, server.server_port = HOST, server.server_address[1]
        server.setup_environ()
    server.set_app(app)
    return server


def serve_in_thread(server: KeepAliveServer, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True)
    thread.start()
    return thread


"""The invocation path's HTTP server: connections kept alive, bodies read exactly, errors contained.

werkzeug's development server closed every connection after its answer, a new TCP connection
and thread per InvokeEndpoint at both hops (helpers/local/wsgi_server.py says how much that
cost); these tests pin what replaced it. Timing is not tested: tools/endpoint_overhead.py prints it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import urllib3
from werkzeug.wrappers import Request, Response

from helpers.local import wsgi_server
from helpers.local_names import HOST


def app(environ, start_response):
    request = Request(environ)
    if request.path == "/boom":
        raise RuntimeError("the app failed")
    if request.path == "/ignore-body":  # answers without reading the body
        return Response(b"ignored", content_type="text/plain")(environ, start_response)
    body = request.get_data(cache=False)
    return Response(f"{request.method} {len(body)} {body[:5]!r}".encode(), content_type="text/plain")(environ, start_response)


@pytest.fixture
def pool() -> Iterator[urllib3.HTTPConnectionPool]:
    server = wsgi_server.make_server(app)
    thread = wsgi_server.serve_in_thread(server, "test-wsgi")
    assert server.server_address[0] == HOST
    connections = urllib3.HTTPConnectionPool(HOST, server.server_port, maxsize=1, block=True, retries=False)
    try:
        yield connections
    finally:
        connections.close()
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert not thread.is_alive()


def test_one_connection_serves_every_request(pool):
    for size in (0, 10, 25_000, 300_000):
        answer = pool.request("POST", "/x", body=b"a" * size, headers={"Content-Type": "image/jpeg"})
        assert answer.status == 200 and answer.data.startswith(f"POST {size} ".encode())
        assert answer.headers["Content-Length"] == str(len(answer.data))
    assert pool.num_connections == 1  # a new connection per request is what werkzeug's server made


def test_the_apps_close_runs_after_the_answer_is_sent():
    """Work an app defers to close() (the gateway's metrics) does not keep the client waiting: the
    app's close waits for the client to hold the answer, which it could not if close came first."""
    received, closed = threading.Event(), threading.Event()
    seen: list[bool] = []

    def deferring(environ, start_response):
        response = Response(b"done", content_type="text/plain")
        response.call_on_close(lambda: (seen.append(received.wait(5)), closed.set()))
        return response(environ, start_response)

    server = wsgi_server.make_server(deferring)
    thread = wsgi_server.serve_in_thread(server, "test-wsgi-close")
    try:
        with urllib3.HTTPConnectionPool(HOST, server.server_port, retries=False, timeout=10) as connections:
            assert connections.request("GET", "/x").data == b"done"
            received.set()
            assert closed.wait(5) and seen == [True]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_chunked_body_is_decoded(pool):
    answer = pool.request("POST", "/x", body=iter([b"hello", b" ", b"world"]), chunked=True)
    assert answer.data == b"POST 11 b'hello'"
    assert pool.request("GET", "/x").data == b"GET 0 b''"  # the connection is still in step
    assert pool.num_connections == 1


def test_a_body_the_app_did_not_read_does_not_leak_into_the_next_request(pool):
    assert pool.request("POST", "/ignore-body", body=b"GET /x HTTP/1.1\r\n\r\n" * 100).data == b"ignored"
    assert pool.request("POST", "/x", body=b"12345").data == b"POST 5 b'12345'"
    assert pool.num_connections == 1


def test_an_app_error_is_a_500_and_the_server_goes_on(pool, caplog):
    answer = pool.request("GET", "/boom")
    assert answer.status == 500 and answer.headers["Connection"] == "close"
    assert "the app failed" in caplog.text
    assert pool.request("GET", "/x").status == 200


def test_head_has_the_length_and_no_body(pool):
    answer = pool.request("HEAD", "/x")
    assert answer.status == 200 and answer.data == b"" and int(answer.headers["Content-Length"]) > 0


def test_the_chunked_reader_refuses_what_is_too_large():
    import io

    stream = io.BytesIO(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
    assert wsgi_server.read_chunked(stream) == b"hello world"
    assert wsgi_server.read_chunked(io.BytesIO(b"10\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n"), limit=8) is None

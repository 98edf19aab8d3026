"""The local SageMaker Runtime: InvokeEndpoint for boto3's `sagemaker-runtime` client.

boto3 sends `POST /endpoints/{EndpointName}/invocations` (rest-json protocol) with the body
as the raw payload and Content-Type, Accept, X-Amzn-SageMaker-Custom-Attributes and
X-Amzn-SageMaker-Target-Variant as headers. The gateway finds the endpoint's model server
in the `HostingService`, forwards the bytes untouched through urllib3's connection pool (kept
alive: the model servers' server, helpers.local.wsgi_server, keeps connections open), and answers the way SageMaker does,
so the notebooks' error handling is the one they would need on AWS:

- 200: the container's body and Content-Type, plus `x-Amzn-Invoked-Production-Variant`;
- 424 `ModelError` when the container answered >= 400 (Message, OriginalStatusCode,
  OriginalMessage, LogStreamArn), or could not be reached (OriginalStatusCode 0, as
  SageMaker reports a container that never answered);
- 400 `ValidationError` "Endpoint X of account Y not found." for unknown, deleted, Creating
  or Failed endpoints;
- 413 "HTTP content length exceeded 6291456 bytes." for a body over InvokeEndpoint's limit
  (`sagemaker_facts.MAX_INVOCATION_BODY_BYTES`), with no error code, as real-time endpoints
  answer it: botocore raises a ClientError whose code is "413". Checked before anything else,
  so a client that works locally never sends what AWS refuses;
- 503 `ServiceUnavailable` while the endpoint's model server is being replaced after it died
  (hosted_endpoint), and for an invocation whose connection failed because it died just then
  (its model never answered, so a retry is safe to the extent the first try was). The runtime model documents it as "The service is unavailable. Try your
  call again."; botocore retries a 503 by itself (its `_retry.json` `service_unavailable`
  policy in legacy mode, a transient status code in standard mode), so a client usually only
  sees the retry's delay. ModelNotReadyException (429) is documented for serverless and
  multi-model endpoints, and ModelError means the container answered, so neither fits.

Every invocation that reached a model server is recorded in `endpoint_metrics` (ModelLatency:
the round trip to the model server; OverheadLatency: the gateway's own time), which moto's
CloudWatch in the same process then serves as SageMaker's AWS/SageMaker metrics.

Every response carries GATEWAY_MS_HEADER (`helpers.local_names`): the time spent in the
gateway itself (routing, reading the body, building the answer), excluding the round trip to the
model server, so a benchmark can show the gateway's overhead apart from the model's; an answer
from a model server also carries MODEL_MS_HEADER, that round trip (its ModelLatency). The metrics
are recorded once the answer is sent (the response's close), not while the client waits for it.
moto is not involved: this is a plain WSGI app.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from urllib.parse import unquote

import urllib3
from werkzeug.wrappers import Request, Response

from helpers.local.endpoint_metrics import EndpointMetrics
from helpers.local.hosting_service import HostingService
from helpers.local.model_server import discard
from helpers.local.wsgi_server import RECEIVED_AT
from helpers.local_names import GATEWAY_MS_HEADER, MODEL_MS_HEADER
from helpers.sagemaker_facts import MAX_INVOCATION_BODY_BYTES

UPSTREAM_TIMEOUT_S = 60.0  # SageMaker gives a container 60 s to answer an invocation
UPSTREAM_CONNECTIONS = 16  # kept per model server; more concurrent invocations open extra ones
MAX_ORIGINAL_MESSAGE = 4096
VARIANT_HEADER = "x-Amzn-Invoked-Production-Variant"
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
ROUTE_PREFIX, ROUTE_SUFFIX = "/endpoints/", "/invocations"

class Outcome(NamedTuple):
    """One InvokeEndpoint's answer; `status` is the container's (0: it never answered), None when the
    request never reached it (then no metric is published)."""

    response: Response
    waited_s: float = 0.0
    variant: str = ""
    status: int | None = None


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def error(status: int, code: str, message: str, **members: Any) -> Response:
    """A rest-json error botocore understands: x-amzn-ErrorType header + __type/Message body."""
    body = json.dumps({"__type": code, "Message": message, **members})
    response = Response(body, status=status, content_type="application/json")
    response.headers["x-amzn-ErrorType"] = code
    return response


def not_found(name: str, account_id: str) -> Response:
    return error(400, "ValidationError", f"Endpoint {name} of account {account_id} not found.")


def too_large(length: int) -> Response:
    """413 without an error code, worded as real-time endpoints word it, plus what to do."""
    message = (f"HTTP content length exceeded {MAX_INVOCATION_BODY_BYTES} bytes. (This request: {length} bytes; "
               "InvokeEndpoint's Body limit is 6 MB on real SageMaker too: send a smaller or more compact "
               "payload, e.g. a JPEG instead of a PNG or raw array, or pass an S3 URI and let the model read it.)")
    return Response(json.dumps({"message": message}), status=413, content_type="application/json")


def unavailable(hosting: HostingService, name: str) -> Response:
    return error(503, "ServiceUnavailable",
                 f"The model server of endpoint {name} stopped and is being replaced: try your call again in a "
                 f"few seconds (see {hosting.log_path(name)}).")


def model_error(hosting: HostingService, name: str, variant: str, status: int, original: str) -> Response:
    """424 ModelError, worded like SageMaker's, pointing at the local log file."""
    kind = "client" if 400 <= status < 500 else "server"
    log_path = hosting.log_path(name)
    return error(
        424,
        "ModelError",
        f'Received {kind} error ({status}) from model server of variant {variant} with message '
        f'"{original}". See {log_path} for more information.',
        OriginalStatusCode=status,
        OriginalMessage=original,
        LogStreamArn=(
            f"arn:aws:logs:{hosting.region}:{hosting.account_id}:log-group:"
            f"/aws/sagemaker/Endpoints/{name}:log-stream:{variant}/local"
        ),
    )


def endpoint_name(path: str) -> str | None:
    """`/endpoints/{name}/invocations` -> name (percent-decoded), else None."""
    if not (path.startswith(ROUTE_PREFIX) and path.endswith(ROUTE_SUFFIX)):
        return None
    name = unquote(path[len(ROUTE_PREFIX) : -len(ROUTE_SUFFIX)])
    return name if name and "/" not in name else None


def forward_headers(request: Request) -> dict[str, str]:
    """The headers a SageMaker container receives: payload type, wanted type, custom attributes."""
    headers = {"Content-Type": request.headers.get("Content-Type", "")}
    for name in ("Accept", CUSTOM_ATTRIBUTES_HEADER):
        value = request.headers.get(name)
        if value:
            headers[name] = value
    return headers


def make_app(hosting: HostingService, *, timing_header: bool = True, metrics: EndpointMetrics | None = None) -> WSGIApp:
    """The WSGI app server.py serves on 127.0.0.1 (helpers.local.wsgi_server: connections kept alive).

    `timing_header=False` (the backend's aws fidelity) leaves out GATEWAY_MS_HEADER, which real
    SageMaker does not send, so the clients' "no such header" path runs too. `metrics` receives
    every invocation that reached a model server (the backend always passes one).
    """
    # No retries: an invocation is never sent twice (the model may not be idempotent), and a
    # server that does not answer is reported at once, as SageMaker reports it.
    upstream = urllib3.PoolManager(maxsize=UPSTREAM_CONNECTIONS, retries=False, timeout=UPSTREAM_TIMEOUT_S)

    def invoke(request: Request, name: str) -> Outcome:
        """Route one InvokeEndpoint: the response, seconds spent waiting upstream, the container's status."""
        length = request.content_length or 0
        if length > MAX_INVOCATION_BODY_BYTES:
            discard(request, length)  # read it, so the client gets this answer, not a reset connection
            return Outcome(too_large(length))
        route = hosting.lookup(name)
        if route is None:
            return Outcome(not_found(name, hosting.account_id))
        target = request.headers.get(TARGET_VARIANT_HEADER)
        if target and target != route.variant_name:
            message = f"The variant {target} is not found for endpoint {name}: it has {route.variant_name}."
            return Outcome(error(400, "ValidationError", message))
        if not route.ready:
            return Outcome(unavailable(hosting, name))
        body = request.get_data(cache=False)
        if len(body) > MAX_INVOCATION_BODY_BYTES:  # no Content-Length (chunked): counted once read
            return Outcome(too_large(len(body)))
        variant = route.variant_name
        started = time.perf_counter()
        try:
            answer = upstream.request("POST", f"{route.url}/invocations", body=body, headers=forward_headers(request))
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            waited = time.perf_counter() - started
            if hosting.being_replaced(name):  # it died just now: the watcher restarts it
                return Outcome(unavailable(hosting, name), waited)
            reason = f"The model server did not answer ({type(exc).__name__}: {exc}): " + hosting.diagnose(name)
            return Outcome(model_error(hosting, name, variant, 0, reason), waited, variant, 0)
        waited = time.perf_counter() - started
        if answer.status >= 400:
            original = answer.data[:MAX_ORIGINAL_MESSAGE].decode("utf-8", errors="replace")
            return Outcome(model_error(hosting, name, variant, answer.status, original), waited, variant, answer.status)
        response = Response(answer.data, status=200,
                            content_type=answer.headers.get("Content-Type", "application/octet-stream"))
        response.headers[VARIANT_HEADER] = variant
        if CUSTOM_ATTRIBUTES_HEADER in answer.headers:
            response.headers[CUSTOM_ATTRIBUTES_HEADER] = answer.headers[CUSTOM_ATTRIBUTES_HEADER]
        return Outcome(response, waited, variant, answer.status)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = environ.get(RECEIVED_AT) or time.perf_counter()  # from the request line, as SageMaker counts
        request = Request(environ)
        name = endpoint_name(request.path)
        if name is not None and request.method == "POST":
            outcome = invoke(request, name)
        elif request.path == "/ping" and request.method == "GET":
            outcome = Outcome(Response(b"", status=200))
        else:
            outcome = Outcome(error(
                404,
                "UnknownOperationException",
                f"No operation {request.method} {request.path}: this local SageMaker Runtime only "
                "implements InvokeEndpoint (POST /endpoints/{EndpointName}/invocations).",
            ))
        response = outcome.response
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        overhead_s = time.perf_counter() - started - outcome.waited_s
        if timing_header:
            response.headers[GATEWAY_MS_HEADER] = f"{overhead_s * 1000:.3f}"
            if outcome.status is not None:
                response.headers[MODEL_MS_HEADER] = f"{outcome.waited_s * 1000:.3f}"
        if metrics is not None and name is not None and outcome.status is not None:
            # wsgi_server closes the response after writing it: the client is not kept waiting
            response.call_on_close(metrics.record_later(name, outcome.variant, model_s=outcome.waited_s,
                                                        overhead_s=overhead_s, status=outcome.status))
        return response(environ, start_response)

    return app

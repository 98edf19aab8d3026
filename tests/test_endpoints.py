"""helpers.endpoints: timing invoke_endpoint from the client (a fake client: no timing assertions)."""

from __future__ import annotations

import io

from helpers.endpoints import time_endpoint
from helpers.local_names import GATEWAY_MS_HEADER


class FakeRuntimeClient:
    def __init__(self, gateway_header: bool) -> None:
        self.calls: list[dict] = []
        self.gateway_header = gateway_header

    def invoke_endpoint(self, **kwargs):
        self.calls.append(kwargs)
        headers = {"content-type": "application/json"}
        if self.gateway_header:
            headers[GATEWAY_MS_HEADER] = "1.25"
        return {"Body": io.BytesIO(b"{}"), "ResponseMetadata": {"HTTPHeaders": headers}}


def test_time_endpoint_reads_the_gateway_header():
    client = FakeRuntimeClient(gateway_header=True)
    timing = time_endpoint(client, "ep", b"abc", "image/jpeg", repeats=4, warmup=2, accept="application/json")
    assert len(client.calls) == 6
    assert client.calls[0] == {"EndpointName": "ep", "Body": b"abc", "ContentType": "image/jpeg",
                               "Accept": "application/json"}
    assert len(timing["round_trip_ms"]) == 4 and all(ms >= 0 for ms in timing["round_trip_ms"])
    assert timing["gateway_ms"] == [1.25] * 4


def test_time_endpoint_without_gateway_header():
    timing = time_endpoint(FakeRuntimeClient(gateway_header=False), "ep", b"x", "application/x-npy",
                           repeats=3, warmup=0)
    assert len(timing["round_trip_ms"]) == 3
    assert timing["gateway_ms"] == []

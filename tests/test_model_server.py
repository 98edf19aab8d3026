"""The model server honours the SageMaker container contract, as a real process.

Two servers run here: one on the real model archive (content types, errors, big bodies,
concurrency) and small ones on toy entry scripts that make the start-up states and failure
paths deterministic without loading a network.
"""

from __future__ import annotations

import http.client
import io
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
import support
from PIL import Image

from helpers.container.inference import preprocess_image
from helpers.local import model_server
from helpers.local.processes import free_port, stop_process
from helpers.packaging import safe_extract
from helpers.paths import DATA_DIR, REPO_ROOT

pytestmark = pytest.mark.slow

CAT_JPEG = DATA_DIR / "chelsea.jpg"
START_TIMEOUT_S = 120


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    ping_statuses: list[int]

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
        """(status, headers, body) of one request on a fresh connection."""
        connection = http.client.HTTPConnection(model_server.HOST, self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def invoke(self, body: bytes, content_type: str, accept: str | None = None):
        headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})
        return self.request("POST", "/invocations", body, headers)


def start_server(model_dir: Path, log: Path, until: int | None = 200) -> Server:
    """Launch a model server; poll /ping until it answers `until` (or just answers, if None)."""
    port = free_port()
    process = model_server.launch(model_dir, port, log)
    statuses: list[int] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        status = support.ping_status(port)
        if status is not None:
            statuses.append(status)
            if until is None or status == until:
                return Server(process, port, log, statuses)
        if process.poll() is not None:
            pytest.fail(f"model server exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    stop_process(process)
    pytest.fail(f"model server did not answer /ping {until} in time:\n{log.read_text()}")


def is_gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie left to a non-reaping init counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not is_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop_and_check_gone(server: Server) -> None:
    stop_process(server.process)
    assert server.process.returncode is not None
    assert is_gone(server.process.pid)


@pytest.fixture(scope="module")
def model_dir(model_archive, tmp_path_factory) -> Path:
    return safe_extract(model_archive, tmp_path_factory.mktemp("served") / "model")


@pytest.fixture(scope="module")
def config(model_dir) -> dict:
    return json.loads((model_dir / "code" / "model-config.json").read_text())


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory) -> Iterator[Server]:
    running = start_server(model_dir, tmp_path_factory.mktemp("logs") / "model-server.log")
    yield running
    stop_and_check_gone(running)


def cat_batch(config: dict) -> np.ndarray:
    with Image.open(CAT_JPEG) as image:
        return preprocess_image(image, config)[None]


def top1(body: bytes) -> str:
    return json.loads(body)["predictions"][0][0]["label"]


def is_cat(label: str) -> bool:
    return "cat" in label or label == "tabby"


# --------------------------------------------------------------------------- real model
def test_ping_is_503_until_the_model_is_loaded(server):
    assert server.ping_statuses[-1] == 200
    assert set(server.ping_statuses[:-1]) <= {503}
    assert server.request("GET", "/ping")[0] == 200


@pytest.mark.parametrize("content_type", ["application/x-image", "image/jpeg"])
def test_jpeg_gives_the_cat(server, content_type):
    status, headers, body = server.invoke(CAT_JPEG.read_bytes(), content_type)
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    assert is_cat(top1(body))


def test_png(server):
    buffer = io.BytesIO()
    with Image.open(CAT_JPEG) as image:
        image.save(buffer, format="PNG")
    status, _, body = server.invoke(buffer.getvalue(), "image/png")
    assert status == 200 and is_cat(top1(body))


def test_npy_in_npy_out(server, config, assert_npy_says_cat):
    status, headers, body = server.invoke(support.npy(cat_batch(config)), "application/x-npy", "application/x-npy")
    assert status == 200, body
    assert headers["content-type"] == "application/x-npy"
    assert_npy_says_cat(body)


def test_json_instances(server, config):
    body = json.dumps({"instances": cat_batch(config).tolist()}).encode()
    status, _, answer = server.invoke(body, "application/json")
    assert status == 200 and is_cat(top1(answer))


@pytest.mark.parametrize("accept", [None, "*/*", "application/json; charset=utf-8"])
def test_missing_or_wildcard_accept_means_json(server, accept):
    status, headers, _ = server.invoke(CAT_JPEG.read_bytes(), "image/jpeg", accept)
    assert status == 200 and headers["content-type"] == "application/json"


def test_unsupported_content_type_is_415(server):
    status, headers, body = server.invoke(b"a,b", "text/csv")
    assert status == 415
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["code"] == 415 and "text/csv" in error["message"]


def test_unsupported_accept_is_415(server):
    status, _, body = server.invoke(CAT_JPEG.read_bytes(), "image/jpeg", "text/csv")
    assert status == 415 and "text/csv" in json.loads(body)["message"]


def test_corrupt_image_is_400(server):
    status, _, body = server.invoke(b"\xff\xd8\xff\xe0 not really a jpeg", "application/x-image")
    assert status == 400 and "decode" in json.loads(body)["message"]


def test_wrong_array_shape_is_400(server):
    status, _, body = server.invoke(support.npy(np.zeros((1, 3, 32, 32), np.float32)), "application/x-npy")
    assert status == 400 and "shape" in json.loads(body)["message"]


@pytest.mark.parametrize("content_type", ["application/x-image", "application/x-npy", "application/json"])
def test_empty_body_is_400(server, content_type):
    status, _, body = server.invoke(b"", content_type)
    assert status == 400, body


def test_ten_megabyte_image(server):
    noise = np.random.default_rng(0).integers(0, 256, size=(1900, 1900, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG", compress_level=0)
    payload = buffer.getvalue()
    assert len(payload) >= 10 * 1024 * 1024
    status, _, body = server.invoke(payload, "image/png")
    assert status == 200, body
    assert len(json.loads(body)["predictions"][0]) == 5


def test_body_over_the_cap_is_413(server):
    status, _, body = server.invoke(b"\0" * (model_server.MAX_BODY_BYTES + 1), "application/x-npy")
    assert status == 413 and "larger" in json.loads(body)["message"]


def test_unknown_route_is_404(server):
    assert server.request("GET", "/models")[0] == 404


def test_concurrent_requests_all_succeed(server):
    payload = CAT_JPEG.read_bytes()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: server.invoke(payload, "image/jpeg"), range(8)))
    assert [status for status, _, _ in results] == [200] * 8
    assert len({top1(body) for _, _, body in results}) == 1


def test_model_dir_without_model_exits_with_a_clear_error(model_dir, tmp_path):
    empty = tmp_path / "model"
    (empty / "code").mkdir(parents=True)
    for name in ("inference.py", "model-config.json"):
        (empty / "code" / name).write_bytes((model_dir / "code" / name).read_bytes())
    output = support.load_failure_log(empty, tmp_path / "model-server.log", START_TIMEOUT_S)
    assert "loading the model failed" in output
    assert "No model artifact" in output and "model.pth" in output


# --------------------------------------------------------------------------- toy entry scripts
TOY_SCRIPT = textwrap.dedent(
    '''
    import time
    from pathlib import Path

    class Teapot(Exception):
        status_code = 418

    def model_fn(model_dir):
        gate = Path(model_dir) / "release"
        while not gate.exists():  # the test decides when loading ends
            time.sleep(0.02)
        return "toy-model"

    def input_fn(body, content_type):
        if content_type == "text/teapot":
            raise Teapot("I am a teapot")
        return body

    def predict_fn(data, model):
        if data == b"boom":
            raise RuntimeError("exploded on purpose")
        return data[::-1]

    def output_fn(prediction, accept):
        return prediction, "application/octet-stream"
    '''
)


@pytest.fixture
def toy_dir(tmp_path) -> Path:
    (tmp_path / "model" / "code").mkdir(parents=True)
    (tmp_path / "model" / "code" / "inference.py").write_text(TOY_SCRIPT)
    return tmp_path / "model"


def test_loading_then_ready_and_error_mapping(toy_dir, tmp_path):
    toy = start_server(toy_dir, tmp_path / "toy.log", until=None)
    try:
        assert toy.ping_statuses == [503]
        status, _, body = toy.invoke(b"abc", "application/octet-stream")
        assert status == 503 and "loading" in json.loads(body)["message"]
        (toy_dir / "release").touch()
        toy = start_server_wait(toy, 200)
        binary = bytes(range(256))
        status, headers, body = toy.invoke(binary, "application/octet-stream")
        assert status == 200 and body == binary[::-1]
        assert headers["content-type"] == "application/octet-stream"
        assert toy.invoke(b"x", "text/teapot")[0] == 418
        status, _, body = toy.invoke(b"boom", "application/octet-stream")
        assert status == 500 and "exploded on purpose" in json.loads(body)["message"]
        assert "RuntimeError" in toy.log.read_text()  # the traceback is in the log
    finally:
        stop_and_check_gone(toy)


def start_server_wait(server: Server, status: int) -> Server:
    deadline = time.monotonic() + 30
    while support.ping_status(server.port) != status:
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.05)
    return server


def test_missing_environment_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "helpers.local.model_server"],
        env={"PATH": "", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == model_server.EXIT_BAD_CONFIG
    assert "SM_MODEL_DIR" in result.stdout


def test_missing_entry_script_exits_with_its_name(tmp_path):
    (tmp_path / "model" / "code").mkdir(parents=True)
    log = tmp_path / "model-server.log"
    process = model_server.launch(tmp_path / "model", free_port(), log)
    try:
        assert process.wait(60) == model_server.EXIT_MODEL_LOAD_FAILED
    finally:
        stop_process(process)
    assert "inference.py not found" in log.read_text()


def test_server_exits_when_its_parent_is_killed(toy_dir, tmp_path):
    """A killed backend must not leave model servers behind (they watch their parent)."""
    launcher = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from helpers.local import model_server
        from helpers.local.processes import free_port
        p = model_server.launch(Path({str(toy_dir)!r}), free_port(), Path({str(tmp_path / "orphan.log")!r}))
        print(p.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", launcher], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    try:
        child = int(parent.stdout.readline())
        assert not is_gone(child)
        parent.kill()
        parent.wait(10)
        assert wait_gone(child, timeout=15), "the orphaned model server kept running"
    finally:
        parent.kill()
        parent.wait(10)
        parent.stdout.close()

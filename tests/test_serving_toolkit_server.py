"""Entry scripts written for the SageMaker (Neo) PyTorch containers serve unchanged, as real processes.

The headline case is a Neo-notebook style script that defines only `transform_fn`: the container
loads the model (here the local Neo's compiled artifact, handed over as a torch module) and the
script answers a probability vector for a photo. The others: no entry script at all (pure
defaults over model.pth) and a script the toolkit refuses (transform_fn plus input_fn).
"""

from __future__ import annotations

import http.client
import io
import json
import shutil
import textwrap
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import support
import torch

from helpers.compiler import compile_torchscript
from helpers.local import model_server
from helpers.local.processes import free_port, stop_process
from helpers.paths import DATA_DIR

pytestmark = pytest.mark.slow

CAT_JPEG = DATA_DIR / "chelsea.jpg"
START_TIMEOUT_S = 120

# Written the way the published Neo PyTorch examples write theirs: no model_fn (the container
# loads the compiled model), torchvision preprocessing, model.forward on a tensor, softmax.
NEO_STYLE_SCRIPT = textwrap.dedent(
    '''
    import io
    import json

    import numpy as np
    import torch
    import torchvision.transforms as transforms
    from PIL import Image


    def transform_fn(model, payload, request_content_type, response_content_type):
        if request_content_type != "application/octet-stream":
            raise RuntimeError(
                "Content type must be application/octet-stream. Provided: " + str(request_content_type))
        image = Image.open(io.BytesIO(payload)).convert("RGB")
        preprocess = transforms.Compose([
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
        ])
        batch = preprocess(image).unsqueeze(0)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model = model.to(device)
        model.eval()
        with torch.no_grad():
            result = model.forward(batch.to(device))
        result = np.squeeze(result.detach().cpu().numpy())
        result_exp = np.exp(result - np.max(result))
        result = result_exp / np.sum(result_exp)
        return json.dumps(result.tolist()), "application/json"
    '''
)

# What the SageMaker Python SDK v2 sets on a repacked PyTorchModel (Neo examples add the timeout).
SDK_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "resnet18.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    "SAGEMAKER_REGION": "us-west-2",
    "MMS_DEFAULT_RESPONSE_TIMEOUT": "500",
}


def invoke(port: int, body: bytes, content_type: str, accept: str | None = None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(model_server.HOST, port, timeout=60)
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})
    try:
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def serving(model_dir: Path, log: Path, environment: dict[str, str] | None = None):
    """Launch a model server and wait for /ping 200; the caller stops it."""
    port = free_port()
    process = model_server.launch(model_dir, port, log, environment)
    deadline = time.monotonic() + START_TIMEOUT_S
    while support.ping_status(port) != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            pytest.fail(f"model server did not become healthy:\n{log.read_text()}")
        time.sleep(0.05)
    return process, port


@pytest.fixture(scope="module")
def compiled_dir(traced_model_file, tmp_path_factory) -> Path:
    """The local Neo's artifact for the default model: compiled.xml/.bin/.meta."""
    out = tmp_path_factory.mktemp("compiled")
    compile_torchscript(traced_model_file, {"input0": [1, 3, 224, 224]}, out)
    return out


def load_script(source: str) -> ModuleType:
    module = ModuleType("neo_style")
    exec(source, module.__dict__)  # noqa: S102 - the script above
    return module


def test_transform_fn_only_neo_script_answers_probabilities_from_the_compiled_model(
    compiled_dir, traced_model_file, model_and_spec, tmp_path
):
    model_dir = tmp_path / "model"
    shutil.copytree(compiled_dir, model_dir)
    (model_dir / "code").mkdir()
    (model_dir / "code" / "resnet18.py").write_text(NEO_STYLE_SCRIPT)
    log = tmp_path / "model-server.log"
    process, port = serving(model_dir, log, SDK_ENVIRONMENT)
    try:
        status, content_type, body = invoke(port, CAT_JPEG.read_bytes(), "application/octet-stream")
        refused = invoke(port, CAT_JPEG.read_bytes(), "image/jpeg")
    finally:
        stop_process(process)
    assert status == 200, body
    assert content_type == "application/json"
    probabilities = np.asarray(json.loads(body))
    labels = model_and_spec[1].preprocess_config()["labels"]
    assert probabilities.shape == (len(labels),)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert labels[int(probabilities.argmax())] in {"tabby", "tiger cat", "Egyptian cat"}

    # the same script on the uncompiled TorchScript model, in-process: same answer
    reference = load_script(NEO_STYLE_SCRIPT).transform_fn(
        torch.jit.load(str(traced_model_file)), CAT_JPEG.read_bytes(), "application/octet-stream", "application/json")
    np.testing.assert_allclose(probabilities, json.loads(reference[0]), atol=1e-4)

    assert refused[0] == 500 and b"application/octet-stream" in refused[2]  # the script's RuntimeError
    output = log.read_text()
    assert "model_fn (default), transform_fn (entry script)" in output
    assert "OpenVINO" in output  # the compiled artifact served, not a TorchScript fallback
    assert "resnet18.py" in output and "MMS_DEFAULT_RESPONSE_TIMEOUT=500: ignored" in output


def test_no_entry_script_serves_model_pth_with_the_default_handlers(traced_model_file, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(traced_model_file, model_dir / "model.pth")
    log = tmp_path / "model-server.log"
    process, port = serving(model_dir, log)
    try:
        batch = np.zeros((1, 3, 224, 224), np.float32)
        buffer = io.BytesIO()
        np.save(buffer, batch)
        status, content_type, body = invoke(port, buffer.getvalue(), "application/x-npy")
        unsupported = invoke(port, CAT_JPEG.read_bytes(), "image/jpeg")
    finally:
        stop_process(process)
    assert status == 200 and content_type == "application/json"  # default Accept
    logits = np.asarray(json.loads(body))
    expected = torch.jit.load(str(traced_model_file))(torch.from_numpy(batch)).detach().numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    assert unsupported[0] == 500 and b"not supported by this framework" in unsupported[2]
    assert "default handlers" in log.read_text()


def test_transform_fn_with_input_fn_never_gets_healthy(tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "code" / "inference.py").write_text(
        "def model_fn(model_dir):\n    return 1\n"
        "def input_fn(body, content_type):\n    return body\n"
        "def transform_fn(model, body, content_type, accept):\n    return body\n"
    )
    log = support.load_failure_log(model_dir, tmp_path / "model-server.log", START_TIMEOUT_S)
    assert "Cannot use transform_fn implementation in conjunction with" in log

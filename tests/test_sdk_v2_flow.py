"""Existing SageMaker Python SDK v2 Neo code runs unchanged on the local backend (issue 11).

tests/sdk_v2/neo_flow.py is the published notebooks' flow (PyTorchModel with a transform_fn-only
entry script -> compile for ml_c5 -> deploy -> wait_for_endpoint -> predict a photo -> delete).
It runs in the side environment `make sdkv2` builds (.venv-sdkv2: sagemaker 2.245.0, the SDK
SageMaker Studio ships, which pins numpy 1.26 and sagemaker-core<2, so it cannot share the
project's venv), as a separate process with exactly what `python -m helpers local env` exports.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest

from helpers.local import control
from helpers.local_names import DUMMY_CREDENTIALS
from helpers.paths import DATA_DIR, REPO_ROOT

pytestmark = pytest.mark.slow

SDK_V2_PYTHON_ENV = "NEO_WORKSHOP_SDKV2_PYTHON"  # a python with sagemaker 2.x, instead of .venv-sdkv2
REQUIRE_ENV = "NEO_WORKSHOP_REQUIRE_SDKV2"  # `make test` sets it: CI never skips this test
SIDE_PYTHON = REPO_ROOT / ".venv-sdkv2" / "bin" / "python"
FLOW = Path(__file__).parent / "sdk_v2" / "neo_flow.py"
SOURCE_DIR = FLOW.parent / "src"
ENTRY_POINT = "infer_pytorch_neo.py"
CAT_JPEG = DATA_DIR / "chelsea.jpg"
FLOW_TIMEOUT_S = 900
# What SDK v2 puts on a repacked PyTorch model (Model._script_mode_env_vars, framework >= 1.2),
# plus the published notebooks' env; the local model server honours or ignores each (DescribeModel).
SDK_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": ENTRY_POINT,
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    "SAGEMAKER_REGION": "us-east-1",
    "MMS_DEFAULT_RESPONSE_TIMEOUT": "500",
}


def sdk_v2_python() -> Path:
    python = Path(os.environ.get(SDK_V2_PYTHON_ENV) or SIDE_PYTHON)
    if not python.exists():
        message = f"SageMaker SDK v2 side environment missing ({python}): run `make sdkv2`"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(message)
        pytest.skip(message)
    return python


def flow_environment(info) -> dict[str, str]:
    """The caller's environment without AWS or SDK settings, plus what `helpers local env` exports."""
    dropped = ("AWS_", "SAGEMAKER_", "PYTHONPATH", "VIRTUAL_ENV")
    base = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    return base | control.env_vars(info) | control.sdk_env_vars(info)


@pytest.fixture(scope="module")
def neo_notebook_archive(traced_model_file, tmp_path_factory) -> Path:
    """model.tar.gz as the Neo notebooks pack it: model.pth alone, no code, no config."""
    archive = tmp_path_factory.mktemp("sdk-v2") / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(traced_model_file, arcname="model.pth")
    return archive


def test_sdk_v2_compile_deploy_predict_delete(local_backend, neo_notebook_archive, model_and_spec, tmp_path):
    python = sdk_v2_python()
    result_file = tmp_path / "result.json"
    command = [str(python), str(FLOW), "--model", str(neo_notebook_archive), "--source-dir", str(SOURCE_DIR),
               "--entry-point", ENTRY_POINT, "--image", str(CAT_JPEG), "--result", str(result_file)]
    run = subprocess.run(command, cwd=tmp_path, env=flow_environment(local_backend), capture_output=True,
                         text=True, timeout=FLOW_TIMEOUT_S, check=False)
    output = f"--- stdout\n{run.stdout[-4000:]}\n--- stderr\n{run.stderr[-6000:]}"
    assert run.returncode == 0, output
    result = json.loads(result_file.read_text())

    # the answer: a probability vector for the photo, top class a cat
    probabilities = np.asarray(result["probabilities"])
    labels = model_and_spec[1].preprocess_config()["labels"]
    assert probabilities.shape == (len(labels),)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert labels[int(probabilities.argmax())] in {"tabby", "tiger cat", "Egyptian cat"}, output

    # the session used the configured bucket (no STS call), the local Neo compiled the model
    bucket = f"sagemaker-{local_backend.region}-{local_backend.account_id}"
    assert result["bucket"] == bucket
    assert result["job_status"] == "COMPLETED"
    assert result["compiled_artifact"].startswith(f"s3://{bucket}/{result['job_name']}/output/")
    assert result["model_image"] == result["inference_image"]  # SDK v2 deploys Neo's InferenceImage
    assert result["model_data"].startswith(f"s3://{bucket}/")  # repacked with code/ by the SDK
    assert result["model_environment"] == SDK_ENVIRONMENT
    assert result["endpoint_status"] == "InService"

    # deleted: endpoint, endpoint config, model
    sm = boto3.client("sagemaker", endpoint_url=local_backend.endpoint_url, region_name=local_backend.region,
                      **DUMMY_CREDENTIALS)
    assert result["endpoint_name"] not in {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}
    configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]}
    assert result["endpoint_config_name"] not in configs
    assert result["model_name"] not in {m["ModelName"] for m in sm.list_models()["Models"]}

"""The SageMaker Python SDK v2 Neo flow, as the published notebooks run it, unchanged.

Run by tests/test_sdk_v2_flow.py with the side environment's Python (`make sdkv2`: sagemaker
2.245.0, SageMaker Studio's), in the environment `python -m helpers local env` exports. The calls
and their arguments follow aws-samples/sm-model-serving-patterns,
cost_optimization/ptn_1_model-compile/pytorch-compile-and-deploy.ipynb: upload, PyTorchModel
with a transform_fn-only entry script, compile for ml_c5, deploy, wait_for_endpoint, predict a
photo, delete. The only change: the role is an ARN string, because `sagemaker.get_execution_role()`
works only inside SageMaker (elsewhere it asks STS, on real AWS too).

Writes what happened (the answer and what SageMaker recorded) as JSON to the --result file;
deletes the endpoint, its config and the model even when a step fails.
"""

import argparse
import json
import time
from pathlib import Path

import sagemaker
from sagemaker.predictor import Predictor
from sagemaker.pytorch.model import PyTorchModel
from sagemaker.utils import name_from_base

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="model.tar.gz holding model.pth (TorchScript)")
    parser.add_argument("--source-dir", required=True, help="directory of the entry script")
    parser.add_argument("--entry-point", required=True)
    parser.add_argument("--image", required=True, help="a JPEG photo to classify")
    parser.add_argument("--result", required=True, type=Path)
    args = parser.parse_args()
    seconds: dict[str, float] = {}
    started = time.monotonic()

    sm_sess = sagemaker.Session()
    bucket = sm_sess.default_bucket()

    compilation_job_name = name_from_base("sdk-v2-neo")
    prefix = compilation_job_name + "/model"
    model_path = sm_sess.upload_data(path=args.model, key_prefix=prefix)

    data_shape = '{"input0":[1,3,224,224]}'
    target_device = "ml_c5"
    framework = "PYTORCH"
    framework_version = "1.8"
    compiled_model_path = f"s3://{bucket}/{compilation_job_name}/output"

    pytorch_model = PyTorchModel(
        model_data=model_path,
        predictor_cls=Predictor,
        framework_version=framework_version,
        role=ROLE,
        sagemaker_session=sm_sess,
        source_dir=args.source_dir,
        entry_point=args.entry_point,
        py_version="py3",
        env={"MMS_DEFAULT_RESPONSE_TIMEOUT": "500"},
    )
    compiled_model = pytorch_model.compile(
        target_instance_family=target_device,
        input_shape=data_shape,
        job_name=compilation_job_name,
        role=ROLE,
        compile_max_run=600,
        framework=framework.lower(),
        framework_version=framework_version,
        output_path=compiled_model_path,
    )
    seconds["upload_and_compile"] = time.monotonic() - started

    predictor = None
    result: dict = {"bucket": bucket, "job_name": compilation_job_name}
    try:
        predictor = compiled_model.deploy(initial_instance_count=1, instance_type="ml.c5.xlarge", wait=False)
        sm_sess.wait_for_endpoint(predictor.endpoint_name, poll=5)
        seconds["deploy"] = time.monotonic() - started - seconds["upload_and_compile"]

        payload = bytearray(Path(args.image).read_bytes())
        response = predictor.predict(payload)
        result["probabilities"] = json.loads(response.decode())

        sm = sm_sess.sagemaker_client  # what SageMaker recorded, as a notebook would look it up
        job = sm.describe_compilation_job(CompilationJobName=compilation_job_name)
        model = sm.describe_model(ModelName=compiled_model.name)
        endpoint = sm.describe_endpoint(EndpointName=predictor.endpoint_name)
        result |= {
            "job_status": job["CompilationJobStatus"],
            "compiled_artifact": job["ModelArtifacts"]["S3ModelArtifacts"],
            "inference_image": job.get("InferenceImage"),
            "model_name": model["ModelName"],
            "model_image": model["PrimaryContainer"]["Image"],
            "model_data": model["PrimaryContainer"]["ModelDataUrl"],
            "model_environment": model["PrimaryContainer"].get("Environment", {}),
            "endpoint_name": endpoint["EndpointName"],
            "endpoint_config_name": endpoint["EndpointConfigName"],
            "endpoint_status": endpoint["EndpointStatus"],
        }
    finally:
        if predictor is not None:
            predictor.delete_endpoint()  # the endpoint and its config
        if compiled_model.name:
            pytorch_model.delete_model()
        seconds["total"] = time.monotonic() - started
        result["seconds"] = seconds
        args.result.write_text(json.dumps(result))


if __name__ == "__main__":
    main()

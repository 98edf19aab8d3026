"""Local hosting's steps, each a plain function that fails with a FailureReason SageMaker would give.

`hosting_service` runs them for every CreateEndpoint: find the container an endpoint config
points at, fetch its model data from S3 and extract it safely, then (after launching the model
server) ping it until healthy. Each failure is an `EndpointFailure` whose message becomes the
endpoint's FailureReason; `with_log` adds the end of the model server's log to it, as SageMaker
points at the endpoint's CloudWatch log.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from helpers.local.processes import http_status, tail
from helpers.local_names import HOST
from helpers.packaging import safe_extract
from helpers.sagemaker_facts import MAX_FAILURE_REASON_CHARS, NEO_PYTORCH_IMAGES, split_s3_uri

LOG_LINES_IN_REASON = 12


class EndpointFailure(RuntimeError):
    """A step of endpoint creation failed; the message becomes the FailureReason."""


def resolve_container(backend: Any, endpoint_config_name: str) -> tuple[str, dict[str, Any]]:
    """Endpoint config -> first production variant -> model -> its (primary) container."""
    try:
        variants = backend.describe_endpoint_config(endpoint_config_name)["ProductionVariants"]
    except Exception as exc:  # noqa: BLE001 - moto's ValidationError
        raise EndpointFailure(f"The endpoint configuration {endpoint_config_name} no longer exists: {exc}") from exc
    if not variants:
        raise EndpointFailure(f"The endpoint configuration {endpoint_config_name} has no production variant.")
    variant = variants[0]
    try:
        model = backend.describe_model(variant["ModelName"])
    except Exception as exc:  # noqa: BLE001 - moto's ValidationError
        raise EndpointFailure(
            f"Model {variant['ModelName']} of variant {variant['VariantName']} does not exist: "
            "create it with create_model before creating the endpoint."
        ) from exc
    container = model.primary_container or (model.containers[0] if model.containers else {})
    return variant["VariantName"], container


def fetch_model(s3: Any, container: dict[str, Any], directory: Path) -> Path:
    """Download and safely extract the container's ModelDataUrl into `directory/model`.

    `directory` starts empty (the caller built it with `helpers.paths.inside`); the downloaded
    archive is deleted once extracted, so an endpoint keeps one copy of its model on disk.
    """
    url = container.get("ModelDataUrl")
    if not url:
        raise EndpointFailure(
            "The model's container has no ModelDataUrl: create the model with "
            "PrimaryContainer={'Image': ..., 'ModelDataUrl': 's3://bucket/model.tar.gz'}."
        )
    if directory.exists():
        shutil.rmtree(directory)  # a re-created endpoint starts clean
    directory.mkdir(parents=True)
    archive = directory / "model.tar.gz"
    download(s3, url, archive)
    try:
        return safe_extract(archive, directory / "model")
    except Exception as exc:  # noqa: BLE001 - tarfile raises many types
        fix = "Package the model with helpers.packaging.build_model_archive (a gzipped tar, no links, no '..')."
        raise EndpointFailure(f"Could not extract the model data {url}: {exc}. {fix}") from exc
    finally:
        archive.unlink(missing_ok=True)


def download(s3: Any, url: str, destination: Path) -> None:
    """Fetch s3://bucket/key to `destination`, explaining a missing bucket or key."""
    try:
        bucket, key = split_s3_uri(url)
    except ValueError:
        bucket = key = ""
    if not bucket or not key.strip("/"):
        raise EndpointFailure(f"ModelDataUrl {url!r} is not an s3://bucket/key URL.")
    try:
        s3.download_file(bucket, key, str(destination))
    except Exception as exc:  # noqa: BLE001 - botocore ClientError and friends
        fix = "Upload model.tar.gz to that S3 location (or fix ModelDataUrl), then delete and re-create the endpoint."
        raise EndpointFailure(f"Could not download the model data {url}: {exc}. {fix}") from exc


def ping(port: int) -> bool:
    """True when the model server answers GET /ping with 200."""
    return http_status(f"http://{HOST}:{port}/ping") == 200


def with_log(sentence: str, path: Path) -> str:
    """`sentence` plus as many whole last lines of the log as fit in a FailureReason.

    The end of the log holds the exception that killed the server, so lines are kept from the
    bottom up; the path says where the rest is.
    """
    header = f"{sentence} Last lines of {path}:"
    budget = MAX_FAILURE_REASON_CHARS - len(header) - 1
    kept: list[str] = []
    for line in reversed(tail(path, LOG_LINES_IN_REASON).splitlines()):
        if len(line) + 1 > budget:
            break
        kept.insert(0, line)
        budget -= len(line) + 1
    if not kept:
        return f"{sentence} (See {path}.)"
    return "\n".join([header, *kept])


NEO_IMAGES = NEO_PYTORCH_IMAGES  # Neo's PyTorch inference images


def container_environment(container: dict[str, Any], standin_modules: str | None = None) -> dict[str, str]:
    """The model's Environment; with the aws-fidelity stand-in, Neo's images also get `neopytorch`.

    Real Neo's PyTorch inference images ship Neo's runtime module `neopytorch`, which entry scripts
    configure before loading a compiled model. The stand-in's version (tests/standin/neopytorch.py,
    `standin_modules` on the PYTHONPATH) only records that it was called.
    """
    environment = dict(container.get("Environment") or {})
    image = container.get("Image", "")
    if standin_modules and any(name in image for name in NEO_IMAGES):
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [standin_modules, environment.get("PYTHONPATH")]))
    return environment

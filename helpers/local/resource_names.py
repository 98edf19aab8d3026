"""SageMaker's rules for hosting resource names, enforced on the local backend.

moto 5.2.5 accepts any name and silently overwrites a model or an endpoint config created twice;
SageMaker refuses both (ValidationException), and refuses a name that breaks its shape's pattern
before anything else happens. Locally the patterns matter more than anywhere: an endpoint's
name becomes a directory under `<work>/local-aws/endpoints/`, so `../../somewhere` must never get
that far (hosting also builds that path with `helpers.paths.inside`, which refuses to leave it).

`hosting_service` calls these checks from its moto wrappers (CreateModel, CreateEndpointConfig,
CreateEndpoint, UpdateEndpoint). The patterns are `helpers.sagemaker_facts`' (botocore's shapes);
the "already existing" wording is what real SageMaker answers (/work/notes/aws-facts.md F4: SDK v1
matched "Cannot create already existing model"; a botocore Stubber test carries the endpoint
configuration text with the quoted ARN).
"""

from __future__ import annotations

import re
from typing import Any

from helpers.sagemaker_facts import (
    ENDPOINT_CONFIG_NAME,
    ENDPOINT_NAME,
    MODEL_NAME,
    name_violations,
    validation_message,
)

# Everything of moto's these checks read; tests/test_moto_contract.py checks each entry.
MOTO_INTERNALS = {
    "moto.sagemaker.models.SageMakerModelBackend": ("describe_model", "endpoint_configs", "endpoints"),
    "moto.sagemaker.models.Model": ("arn",),
    "moto.sagemaker.models.FakeEndpointConfig": ("endpoint_config_arn",),
    "moto.sagemaker.models.FakeEndpoint": ("arn",),
    "moto.sagemaker.exceptions": ("ValidationError",),
}

# the last part of a request member, as AWS spells it in messages -> the shape's pattern
PATTERNS: dict[str, re.Pattern[str]] = {
    "endpointName": ENDPOINT_NAME,
    "endpointConfigName": ENDPOINT_CONFIG_NAME,
    "modelName": MODEL_NAME,
    "variantName": ENDPOINT_NAME,  # botocore's VariantName shape has EndpointName's pattern
}


def _refuse(message: str) -> None:
    from moto.sagemaker.exceptions import ValidationError

    raise ValidationError(message=message)


def check_names(members: dict[str, str | None]) -> None:
    """Raise AWS's ValidationException listing every member that breaks its pattern.

    `members` maps request members, as AWS names them in its messages ('endpointName',
    'productionVariants.1.member.variantName'), to the values sent.
    """
    problems = [problem for member, value in members.items()
                for problem in name_violations(value or "", member, PATTERNS[member.rsplit(".", 1)[-1]])]
    if problems:
        _refuse(validation_message(problems))


def check_new_model(backend: Any, model_name: str) -> None:
    """CreateModel: a valid name that no model has yet."""
    check_names({"modelName": model_name})
    try:
        existing = backend.describe_model(model_name)
    except Exception:  # noqa: BLE001 - moto's ValidationError: no such model, as it should be
        return
    _refuse(f'Cannot create already existing model "{existing.arn}".')


def check_new_endpoint_config(backend: Any, config_name: str, variants: list[dict[str, Any]] | None) -> None:
    """CreateEndpointConfig: a valid name that no endpoint config has yet, and valid variant names."""
    check_names({"endpointConfigName": config_name} | {
        f"productionVariants.{index}.member.variantName": variant.get("VariantName")
        for index, variant in enumerate(variants or [], start=1)})
    if config_name in backend.endpoint_configs:
        arn = backend.endpoint_configs[config_name].endpoint_config_arn
        _refuse(f'Cannot create already existing endpoint configuration "{arn}".')


def check_new_endpoint(backend: Any, endpoint_name: str, config_name: str) -> None:
    """CreateEndpoint: valid names, and no endpoint of that name yet."""
    check_names({"endpointName": endpoint_name, "endpointConfigName": config_name})
    if endpoint_name in backend.endpoints:
        _refuse(f'Cannot create already existing endpoint "{backend.endpoints[endpoint_name].arn}".')

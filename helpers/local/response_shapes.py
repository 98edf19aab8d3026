"""The local backend's SageMaker answers in SageMaker's shape: no empty structures it never sends.

moto 5.2.5 keeps optional structures a request left out as `{}` and serialises them, so the
local backend answered, for resources created without them:

- DescribeModel `"VpcConfig": {}`
- DescribeEndpointConfig and DescribeEndpoint `"DataCaptureConfig": {}`
- DescribeCompilationJob `"ModelArtifacts": {}` while the job runs or after it failed

Each of these shapes has required members in botocore's service model (`VpcConfig`:
SecurityGroupIds and Subnets; `DataCaptureConfig`: InitialSamplingPercentage, DestinationS3Uri,
CaptureOptions; `DataCaptureConfigSummary`: EnableCapture, CaptureStatus, ...; `ModelArtifacts`:
S3ModelArtifacts), so an empty one is never what SageMaker sends. boto3 does not validate
responses and never noticed; clients generated from the service model do: sagemaker-core (SDK
v3) rejected every `Model.get`/`Model.get_all()`/`Model.create`, `EndpointConfig.create`,
`Endpoint.create` and `CompilationJob.create` with a pydantic ValidationError
("vpc_config.security_group_ids Field required").

The fix uses moto's own mechanism for this: a response class may name key paths in
`RESPONSE_KEY_PATH_TO_TRANSFORMER` (read by `moto.core.responses.ActionResult.execute_result`),
and `moto.core.serialize.return_if_not_empty` turns an empty value into None, which the
serializer leaves out. moto's SageMaker responses only inherit BaseResponse's empty table;
`install()` gives them their own (through `moto_patch`), so only the answers change, never the
stored resources the compilation and hosting services read.
"""

from __future__ import annotations

from helpers.local import moto_patch

# Everything of moto's this module relies on; tests/test_moto_contract.py checks each entry.
MOTO_INTERNALS = {
    # given its own RESPONSE_KEY_PATH_TO_TRANSFORMER (inherited, empty, from BaseResponse):
    # key path (ends with "<OutputShape>.<Member>") -> value transformer; these actions use it
    "moto.core.responses.BaseResponse": ("RESPONSE_KEY_PATH_TO_TRANSFORMER",),
    "moto.sagemaker.responses.SageMakerResponse": ("describe_model", "describe_endpoint_config",
                                                   "describe_endpoint", "describe_compilation_job"),
    # reads the response class's RESPONSE_KEY_PATH_TO_TRANSFORMER when serialising an ActionResult
    "moto.core.responses.ActionResult": ("execute_result",),
    "moto.core.serialize": ("return_if_not_empty",),
}
PATCH_NAME = "response-shapes"
TRANSFORMERS_ATTRIBUTE = "RESPONSE_KEY_PATH_TO_TRANSFORMER"

# "<botocore output shape>.<member>": left out when empty, as SageMaker leaves it out.
EMPTY_MEANS_ABSENT = (
    "DescribeModelOutput.VpcConfig",
    "DescribeEndpointConfigOutput.DataCaptureConfig",
    "DescribeEndpointOutput.DataCaptureConfig",
    "DescribeCompilationJobResponse.ModelArtifacts",
)


def install() -> None:
    """Patch moto's SageMaker responses (call before moto serves requests; idempotent)."""
    moto_patch.install(PATCH_NAME, _patch)


def uninstall() -> None:
    """Restore moto (tests that patch moto in their own process clean up with this)."""
    moto_patch.uninstall(PATCH_NAME)


def _patch(patch: moto_patch.MotoPatch) -> None:
    from moto.core.serialize import return_if_not_empty
    from moto.sagemaker.responses import SageMakerResponse

    inherited = getattr(SageMakerResponse, TRANSFORMERS_ATTRIBUTE, {})  # BaseResponse's: empty
    patch.shadow(SageMakerResponse, TRANSFORMERS_ATTRIBUTE,
                 {**inherited, **dict.fromkeys(EMPTY_MEANS_ABSENT, return_if_not_empty)})

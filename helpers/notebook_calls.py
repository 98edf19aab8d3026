"""Every AWS call the notebooks and their helpers make on `aws`, and the IAM action each needs.

One list, used three ways: `python -m helpers check-account` simulates these actions for the
execution role (iam:SimulatePrincipalPolicy); infra/attendee-account.yaml grants exactly these
(plus SERVICE_SIDE, what SageMaker itself does with the role); tests/test_attendee_template.py
checks the template against this list and this list against the boto3 calls in the code.

Action names: the Service Authorization Reference,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html and
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html (HeadObject
needs s3:GetObject, HeadBucket and ListObjectsV2 s3:ListBucket, DeleteObjects s3:DeleteObject,
upload_file's multipart upload s3:PutObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html,
API_HeadBucket.html, API_DeleteObjects.html, API_CreateMultipartUpload.html "Permissions").
"""

from __future__ import annotations

# boto3 client -> {method: IAM action}. Not here: what only the local backend's set-up calls
# (s3 list_buckets, iam create_role in helpers/aws.py's _connect_local).
CALLS: dict[str, dict[str, str]] = {
    "sagemaker": {
        "create_compilation_job": "sagemaker:CreateCompilationJob",
        "describe_compilation_job": "sagemaker:DescribeCompilationJob",
        "list_compilation_jobs": "sagemaker:ListCompilationJobs",
        "stop_compilation_job": "sagemaker:StopCompilationJob",
        "delete_compilation_job": "sagemaker:DeleteCompilationJob",
        "create_model": "sagemaker:CreateModel",
        "describe_model": "sagemaker:DescribeModel",
        "list_models": "sagemaker:ListModels",
        "delete_model": "sagemaker:DeleteModel",
        "create_endpoint_config": "sagemaker:CreateEndpointConfig",
        "describe_endpoint_config": "sagemaker:DescribeEndpointConfig",
        "list_endpoint_configs": "sagemaker:ListEndpointConfigs",
        "delete_endpoint_config": "sagemaker:DeleteEndpointConfig",
        "create_endpoint": "sagemaker:CreateEndpoint",
        "describe_endpoint": "sagemaker:DescribeEndpoint",
        "list_endpoints": "sagemaker:ListEndpoints",
        "delete_endpoint": "sagemaker:DeleteEndpoint",
        "list_tags": "sagemaker:ListTags",
        # Create* with Tags= also needs sagemaker:AddTags on the new resource
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/security_iam_id-based-policy-examples.html#api-access-policy)
        "add_tags": "sagemaker:AddTags",
    },
    "sagemaker-runtime": {"invoke_endpoint": "sagemaker:InvokeEndpoint"},
    "s3": {
        "head_bucket": "s3:ListBucket", "list_objects_v2": "s3:ListBucket", "create_bucket": "s3:CreateBucket",
        "upload_file": "s3:PutObject", "put_object": "s3:PutObject", "download_file": "s3:GetObject",
        "head_object": "s3:GetObject", "delete_object": "s3:DeleteObject", "delete_objects": "s3:DeleteObject",
    },
    "sts": {"get_caller_identity": ""},  # needs no permission (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)
    "iam": {"get_role": "iam:GetRole"},
}
# What SageMaker does with the execution role it is passed (CreateModel / CreateCompilationJob
# ExecutionRoleArn/RoleArn): pull the framework image, write logs, read and write the model in S3;
# and PassRole so the notebook may hand the role over.
# https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html ("CreateModel API: Execution Role Permissions",
# "CreateCompilationJob API: Execution Role Permissions")
SERVICE_SIDE = ("iam:PassRole", "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability", "logs:CreateLogGroup", "logs:CreateLogStream",
                "logs:PutLogEvents", "logs:DescribeLogStreams", "cloudwatch:PutMetricData")
# What the kernel inside a Studio space calls to find its own role (helpers/aws.py, the SDKs' get_execution_role)
# and what Studio's own UI does with the space's execution role (list, start and stop the space's app)
STUDIO_SIDE = ("sagemaker:DescribeDomain", "sagemaker:DescribeUserProfile", "sagemaker:DescribeSpace",
               "sagemaker:ListSpaces", "sagemaker:UpdateSpace", "sagemaker:ListApps", "sagemaker:DescribeApp",
               "sagemaker:CreateApp", "sagemaker:DeleteApp")
# The endpoints notebooks 03 and 05 run at once, and how long (minutes, with the wait) each is up in a core-path run
# 03: uncompiled + compiled, then (SDK_SECTION) the SDK's while they still run; 05: uncompiled + compiled
CONCURRENT_ENDPOINTS = {"03_deploy_endpoint": 3, "05_latency_comparison": 2}
ENDPOINT_INSTANCE_TYPE = "ml.c5.xlarge"
ENDPOINT_MINUTES = {"03_deploy_endpoint": 20, "05_latency_comparison": 25}


def notebook_actions() -> set[str]:
    """The IAM actions of every call in CALLS (GetCallerIdentity needs none)."""
    return {action for methods in CALLS.values() for action in methods.values() if action}


# The resource each action is simulated on (check-account): IAM's simulator evaluates a statement
# only against the resources it is given, "*" by default, which a statement scoped to
# `endpoint/neo-workshop*` does not match
# (https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html, ResourceArns:
# "If this parameter is not provided, then the value defaults to * (all resources)").
_SAGEMAKER_RESOURCES = (("EndpointConfig", "endpoint-config"), ("Endpoint", "endpoint"), ("Model", "model"),
                        ("CompilationJob", "compilation-job"), ("Tags", "endpoint"))


def sample_resource(action: str, region: str, account: str, bucket: str, role_arn: str) -> str:
    """An ARN of the workshop's that `action` would be called on ('*' for the List calls)."""
    service, name = action.split(":", 1)
    if service == "sagemaker":
        if name.startswith("List") and name != "ListTags":
            return "*"
        for noun, kind in _SAGEMAKER_RESOURCES:
            if name.endswith(noun) or (noun == "Endpoint" and name == "InvokeEndpoint"):
                return f"arn:aws:sagemaker:{region}:{account}:{kind}/neo-workshop-check"
        return "*"
    if service == "s3":
        return f"arn:aws:s3:::{bucket}" if name in ("ListBucket", "CreateBucket") else f"arn:aws:s3:::{bucket}/neo-workshop/check"
    return role_arn if service == "iam" else "*"

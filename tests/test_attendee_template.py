"""infra/attendee-account.yaml: it passes cfn-lint, embeds exactly helpers/expiry_cleaner.py, and its
execution role grants exactly the calls the notebooks make (helpers/notebook_calls.py), which in
turn are exactly the boto3 calls the notebooks' and helpers' code makes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers import notebook_calls
from helpers.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "infra" / "attendee-account.yaml"
sys.path.insert(0, str(REPO_ROOT / "tools"))
import embed_cleaner  # noqa: E402


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, !GetAtt ...) read as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
    else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node)))


def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


def test_the_template_passes_cfn_lint():
    pytest.importorskip("cfnlint", reason="cfn-lint is a dev dependency: pip install -e '.[dev]'")
    done = subprocess.run([sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; main()",
                           str(TEMPLATE)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_lambda_is_the_cleaner_module_verbatim():
    code = template()["Resources"]["ExpiryCleaner"]["Properties"]["Code"]["ZipFile"]
    module = (REPO_ROOT / "helpers" / "expiry_cleaner.py").read_text()
    assert code == module, "the template embeds an old cleaner: run python tools/embed_cleaner.py"
    assert embed_cleaner.embedded(TEMPLATE.read_text()) == module
    assert template()["Resources"]["ExpiryCleaner"]["Properties"]["Handler"] == "index.handler"


def _actions(role: dict) -> set[str]:
    found = set()
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            found |= {actions} if isinstance(actions, str) else set(actions)
    return found


def test_the_execution_role_grants_exactly_the_notebooks_calls():
    granted = _actions(template()["Resources"]["ExecutionRole"])
    wanted = notebook_calls.notebook_actions() | set(notebook_calls.SERVICE_SIDE) | set(notebook_calls.STUDIO_SIDE)
    assert granted == wanted, f"granted but not called: {sorted(granted - wanted)}; called but not granted: {sorted(wanted - granted)}"
    assert not any("*" in action for action in granted), "no wildcard actions"


def test_endpoint_configs_only_of_the_notebooks_instance_type():
    statements = [s for p in template()["Resources"]["ExecutionRole"]["Properties"]["Policies"]
                  for s in p["PolicyDocument"]["Statement"]]
    [config] = [s for s in statements if s["Action"] == "sagemaker:CreateEndpointConfig"]
    assert config["Condition"]["ForAllValues:StringEquals"]["sagemaker:InstanceTypes"] == [notebook_calls.ENDPOINT_INSTANCE_TYPE]
    for statement in statements:
        for resource in [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]:
            if ":sagemaker:" in resource and any(k in resource for k in ("model/", "endpoint", "compilation-job/")):
                assert resource.endswith("/neo-workshop*"), resource


RECEIVERS = {"sm": "sagemaker", "s3": "s3", "smr": "sagemaker-runtime", "runtime_client": "sagemaker-runtime", "iam": "iam"}
CALL = re.compile(r"\b(sm|s3|smr|runtime_client|iam)\.(?!exceptions|meta|get_paginator|get_waiter)([a-z_0-9]+)\(")
PAGINATED = re.compile(r"\b(sm|s3)\.get_paginator\(\\?\"([a-z_0-9]+)")
FACILITATOR = {"check_account.py", "room.py"}  # run with the facilitator's credentials, not the execution role
LOCAL_ONLY = {("s3", "list_buckets"), ("iam", "create_role")}  # helpers/aws.py's _connect_local / _local_role


def code_calls() -> set[tuple[str, str]]:
    sources = [p.read_text() for p in (REPO_ROOT / "helpers").glob("*.py") if p.name not in FACILITATOR]
    sources += [p.read_text() for p in (REPO_ROOT / "helpers" / "bench").glob("*.py")]
    for path in sorted((REPO_ROOT / "notebooks").glob("0*.ipynb")):
        sources.append("\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"))
    found = set()
    for text in sources:
        found |= {(RECEIVERS[r], m) for r, m in CALL.findall(text)}
        found |= {(RECEIVERS[r], m) for r, m in PAGINATED.findall(text)}
    from helpers.cleanup import LISTINGS  # calls it makes through getattr

    for list_call, _, _, _, delete_call, _ in LISTINGS.values():
        found |= {("sagemaker", list_call), ("sagemaker", delete_call)}
    return found - LOCAL_ONLY


def test_the_list_of_calls_is_the_calls_the_code_makes():
    listed = {(service, method) for service, methods in notebook_calls.CALLS.items() for method in methods}
    missing = code_calls() - listed
    assert not missing, f"the code calls {sorted(missing)}: add them (and their IAM action) to helpers/notebook_calls.py"


def test_the_lifecycle_config_clones_and_builds_the_kernel():
    script = template()["Resources"]["SetUpLifecycleConfig"]["Properties"]["StudioLifecycleConfigContent"]["Fn::Base64"]
    assert "git clone" in script and "make kernel" in script and "nohup" in script


def test_the_embed_tool_check_passes():
    done = subprocess.run([sys.executable, str(Path(embed_cleaner.__file__)), "--check"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout


def test_the_contentspec_names_files_and_parameters_that_exist():
    import json

    spec = yaml.safe_load((REPO_ROOT / "contentspec.yaml").read_text())
    assert spec["version"] == 2.0 and spec["defaultLocaleCode"] in spec["localeCodes"]
    for policy in spec["awsAccountConfig"]["participantRole"]["iamPolicies"]:
        json.loads((REPO_ROOT / policy).read_text())
    [stack] = spec["infrastructure"]["cloudformationTemplates"]
    assert (REPO_ROOT / stack["templateLocation"]).resolve() == TEMPLATE
    parameters, outputs = template()["Parameters"], template()["Outputs"]
    assert {p["templateParameter"] for p in stack["parameters"]} <= set(parameters)
    assert set(stack["participantVisibleStackOutputs"]) <= set(outputs)
    required = {name for name, p in parameters.items() if "Default" not in p}
    assert required <= {p["templateParameter"] for p in stack["parameters"]}, "every parameter without a default is given"

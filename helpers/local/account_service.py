"""The two account answers `check-account` needs that moto does not give: IAM policy simulation, SageMaker's quotas.

- iam:SimulatePrincipalPolicy (moto 5.2.5 has no such action). With the aws fidelity (the
  stand-in) it evaluates the role's inline and managed policies as IAM documents it for one
  account: an explicit Deny wins, else an Allow whose Action (wildcards allowed) matches, else
  implicitDeny (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html;
  the answer's shape: https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html,
  EvalDecision allowed | explicitDeny | implicitDeny). Conditions and resource ARNs are not
  evaluated (a statement with a Condition counts as matching, as the simulator does when the
  context key is not given: MissingContextValues). With the local fidelity every action is
  `allowed`: the local backend enforces no IAM, so that is its true answer.
- servicequotas:ListServiceQuotas for ServiceCode `sagemaker` (moto lists only `vpc`): the quota
  `ml.c5.xlarge for endpoint usage` at STANDIN_ENDPOINT_QUOTA
  (https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html,
  https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ServiceQuota.html).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any
from urllib.parse import unquote

from helpers.local import moto_patch

MOTO_INTERNALS = {
    "moto.iam.responses.IamResponse": ("_get_param",),
    "moto.iam.models.IAMBackend": ("get_role_by_arn",),
    # a live Role's attributes (tests/test_moto_contract.py checks them on one); a ManagedPolicy's
    # versions each have .document and .is_default
    "moto.iam.models.Role": ("policies", "managed_policies"),
    "moto.core.responses": ("ActionResult",),
    "moto.servicequotas.responses.ServiceQuotasResponse": ("get_service_quota",),
}
PATCH_NAME = "account"
STANDIN_ENDPOINT_QUOTA = 4  # the applied value varies per account; an account fit for the workshop has >= 3
SAGEMAKER_QUOTAS = ({"QuotaName": "ml.c5.xlarge for endpoint usage", "QuotaCode": "L-STANDIN-C5XL-ENDPOINT",
                     "Value": float(STANDIN_ENDPOINT_QUOTA)},)


def install(aws_fidelity: bool) -> None:
    """Add the two answers to moto (before it serves requests)."""
    moto_patch.install(PATCH_NAME, lambda patch: _patch(patch, aws_fidelity))


def uninstall() -> None:
    moto_patch.uninstall(PATCH_NAME)


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        document = json.loads(unquote(document))
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def decide(documents: list[Any], action: str) -> str:
    """IAM's decision for `action` under `documents` (identity policies of one account)."""
    decision = "implicitDeny"
    for statement in (s for document in documents for s in _statements(document)):
        if any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _listed(statement.get("Action"))):
            if statement.get("Effect") == "Deny":
                return "explicitDeny"
            if statement.get("Effect") == "Allow":
                decision = "allowed"
    return decision


def _role_documents(role: Any) -> list[Any]:
    documents = list(role.policies.values())
    for policy in role.managed_policies.values():
        documents += [version.document for version in policy.versions if version.is_default]
    return documents


def _patch(patch: moto_patch.MotoPatch, aws_fidelity: bool) -> None:
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse
    from moto.servicequotas.responses import ServiceQuotasResponse

    def simulate_principal_policy(self: Any) -> Any:
        arn = self._get_param("PolicySourceArn")
        actions = self._get_param("ActionNames", [])
        documents = _role_documents(self.backend.get_role_by_arn(arn)) if aws_fidelity else []
        results = [{"EvalActionName": action, "EvalResourceName": "*",
                    "EvalDecision": decide(documents, action) if aws_fidelity else "allowed"} for action in actions]
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    def list_service_quotas(self: Any) -> str:
        code = json.loads(self.body or "{}").get("ServiceCode")
        region, account = self.region, self.current_account
        quotas = [{**quota, "ServiceCode": "sagemaker", "ServiceName": "Amazon SageMaker", "Unit": "None",
                   "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:sagemaker/{quota['QuotaCode']}",
                   "Adjustable": True, "GlobalQuota": False} for quota in SAGEMAKER_QUOTAS] if code == "sagemaker" else []
        return json.dumps({"Quotas": quotas})

    patch.add(IamResponse, "simulate_principal_policy", simulate_principal_policy)
    patch.add(ServiceQuotasResponse, "list_service_quotas", list_service_quotas)

"""The local target's fidelity report: what a deploy on ``local`` did not really create or run.

moto's CloudFormation answers CREATE_COMPLETE for a stack even when it skipped some of its
resources (types it does not know become nameless entries), and the local target does not run
every feature a template may use. A green run must never hide that: after a deploy on
``local``, every such resource and feature is named in one warning line (deploy output and
terminal summary).

Plain data in, plain data out: the deployed template (after packaging and the SAM transform)
and the logical IDs the emulator lists. No moto here: this runs in pytest's process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: resource types the local target creates but does not run; type -> what is missing
NOT_RUN_TYPES: dict[str, str] = {
    "AWS::Lambda::Url": "function URLs are not served",
    "AWS::ApiGateway::DomainName": "custom domain names are not served",
    "AWS::ApiGatewayV2::DomainName": "custom domain names are not served",
    "AWS::ApiGateway::UsagePlan": "usage plans and API keys are not enforced",
    "AWS::ApiGateway::RequestValidator": "request validation is not done",
}


@dataclass(frozen=True)
class Finding:
    """One thing local does not do: the resource, and what."""

    logical_id: str
    what: str

    def __str__(self) -> str:
        return f"{self.logical_id} ({self.what})"


Check = Callable[[str, dict[str, Any]], Iterable[str]]


def _event_source_mapping(logical_id: str, properties: dict[str, Any]) -> Iterable[str]:
    if properties.get("FilterCriteria"):
        yield "FilterCriteria: every record is delivered"
    if properties.get("DestinationConfig"):
        yield "DestinationConfig: failed records are sent nowhere"
    if properties.get("BisectBatchOnFunctionError"):
        yield "BisectBatchOnFunctionError is ignored"
    if properties.get("MaximumBatchingWindowInSeconds"):
        yield "MaximumBatchingWindowInSeconds is ignored"


def _function(logical_id: str, properties: dict[str, Any]) -> Iterable[str]:
    if properties.get("PackageType") == "Image":
        yield "a container image: not run"
    runtime = properties.get("Runtime")
    if isinstance(runtime, str) and not runtime.startswith("python"):
        yield f"runtime {runtime}: not run"
    if properties.get("DeadLetterConfig"):
        yield "DeadLetterConfig: failed events are sent nowhere"
    if properties.get("ReservedConcurrentExecutions") is not None:
        yield "ReservedConcurrentExecutions is not enforced"


def _invoke_config(logical_id: str, properties: dict[str, Any]) -> Iterable[str]:
    if properties.get("DestinationConfig"):
        yield "DestinationConfig: results are sent nowhere"


def _method(logical_id: str, properties: dict[str, Any]) -> Iterable[str]:
    authorization = str(properties.get("AuthorizationType") or "NONE").upper()
    if authorization in ("AWS_IAM", "COGNITO_USER_POOLS"):
        yield f"{authorization} authorization is not checked"
    if properties.get("ApiKeyRequired"):
        yield "API keys are not checked"
    integration = properties.get("Integration") or {}
    kind = str(integration.get("Type") or "").upper() if isinstance(integration, dict) else ""
    if kind in ("HTTP", "HTTP_PROXY"):
        yield f"{kind} integrations are not run"
    if kind == "AWS" and not _runs_service(integration.get("Uri")):
        yield "this AWS service integration is not run"


def _route(logical_id: str, properties: dict[str, Any]) -> Iterable[str]:
    authorization = str(properties.get("AuthorizationType") or "NONE").upper()
    if authorization in ("AWS_IAM", "JWT"):
        yield f"{authorization} authorization is not checked"


def _http_integration(logical_id: str, properties: dict[str, Any]) -> Iterable[str]:
    kind = str(properties.get("IntegrationType") or "").upper()
    if kind in ("HTTP_PROXY", "HTTP"):
        yield f"{kind} integrations are not run"
    subtype = properties.get("IntegrationSubtype")
    if kind == "AWS_PROXY" and subtype and subtype != "SQS-SendMessage":
        yield f"{properties['IntegrationSubtype']} integrations are not run"


def _http_api(logical_id: str, properties: dict[str, Any]) -> Iterable[str]:
    body = properties.get("Body")
    if not isinstance(body, dict):
        return
    operations = [
        operation
        for path in (body.get("paths") or {}).values()
        if isinstance(path, dict)
        for operation in path.values()
        if isinstance(operation, dict)
    ]
    # each finding once, and every kind of finding (one must not hide the next)
    kinds = {
        str((operation.get("x-amazon-apigateway-integration") or {}).get("type") or "").upper()
        for operation in operations
    }
    for kind in ("HTTP_PROXY", "HTTP"):
        if kind in kinds:
            yield f"{kind} integrations are not run"
    schemes = ((body.get("components") or {}).get("securitySchemes")) or {}
    if any(
        str(((scheme or {}).get("x-amazon-apigateway-authorizer") or {}).get("type") or "").lower()
        == "jwt"
        for scheme in schemes.values()
    ):
        yield "JWT authorization is not checked"


#: services whose AWS integrations local runs (SendMessage only, see apigateway/services.py)
_SERVICE_INTEGRATIONS: tuple[str, ...] = ("sqs",)


def _runs_service(uri: Any) -> bool:
    return isinstance(uri, str) and any(f":{service}:" in uri for service in _SERVICE_INTEGRATIONS)


CHECKS: dict[str, Check] = {
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::EventInvokeConfig": _invoke_config,
    "AWS::ApiGateway::Method": _method,
    "AWS::ApiGatewayV2::Route": _route,
    "AWS::ApiGatewayV2::Integration": _http_integration,
    "AWS::ApiGatewayV2::Api": _http_api,
}


def report(body: Mapping[str, Any], listed: Iterable[str]) -> list[Finding]:
    """What local did not create (not in ``listed``, the logical IDs the emulator lists) or
    does not run, for the deployed template ``body``."""
    created = set(listed)
    findings: list[Finding] = []
    resources = body.get("Resources") or {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = str(resource.get("Type") or "")
        if logical_id not in created:
            if "Condition" in resource:
                continue  # a condition that was false: not created on AWS either
            findings.append(Finding(logical_id, f"{kind}: not created by the emulator"))
            continue
        if kind in NOT_RUN_TYPES:
            findings.append(Finding(logical_id, f"{kind}: {NOT_RUN_TYPES[kind]}"))
        properties = resource.get("Properties")
        check = CHECKS.get(kind)
        if check is not None and isinstance(properties, dict):
            findings.extend(Finding(logical_id, what) for what in check(logical_id, properties))
    return findings


def line(findings: list[Finding]) -> str | None:
    """The one warning line, or None when local does all the template asks."""
    if not findings:
        return None
    return (
        f"local fidelity: {len(findings)} thing(s) this template uses are not created or not "
        "run by the local target (test them with --cloud-stack=aws): "
        + "; ".join(str(finding) for finding in findings)
    )

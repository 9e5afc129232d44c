"""The seam into moto: where the embedded emulator hands Lambda invocations to our runner.

moto (without Docker) cannot run Lambda code. Every path by which moto reaches a function ends
in ``LambdaFunction.invoke`` (direct invokes, S3 notifications, SNS, EventBridge, CloudWatch Logs
subscriptions, Kinesis, Secrets Manager rotation), so replacing that one method makes them all run
the real handler. A few more replacements make the flows behave like Lambda rather than like
moto's shortcuts:

* ``LambdaBackend.create_event_source_mapping``: SQS and DynamoDB stream mappings are taken off
  moto's inline path and polled (``sources.py``).
* ``s3.notifications._invoke_awslambda``, ``events.notifications._invoke_lambda``: S3 and
  EventBridge invoke asynchronously on AWS; moto blocks PutObject on the handler.
* ``sns.models.Subscription.publish`` (lambda protocol only): asynchronous, with the real topic
  ARN, message ID and message attributes (moto sends placeholders).
* ``events.models.Rule.send_to_targets``: moto has no Lambda targets for PutEvents.
* ``LambdaFunction.create_from_cloudformation_json``: moto drops ``Layers`` from templates.
* ``cloudformation.parsing.resource_class_from_type``: types that moto's CloudFormation skips
  or keeps in part (API Gateway's, a bucket's notifications) are created by ``resources.py``.
* ``cloudformation.parsing.parse_output``: an output naming an API's
  ``https://<id>.execute-api...`` URL gives the local URL that reaches that API
  (``apigateway/urls.py``).
* ``stepfunctions.parser.models.StepFunctionsParserBackend.start_execution``: the backend that
  runs executions names every unnamed one ``None`` (so a second one is refused); AWS makes a
  UUID.

All of these are private moto names: moto is pinned to the tested range (``>=5.2.1,<5.3``) and
``check()`` names any that moved, so that an upgrade fails loudly (the emulator refuses to start,
and ``tests/test_local_seam.py`` fails) instead of silently not running handlers.

moto's backends are process-wide, so the patches are too: installed while at least one emulator
runs in this process, dispatching to the most recently started runner.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import inspect
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote_plus, unquote_plus

from pytest_cloudstack.errors import ConfigurationError

if TYPE_CHECKING:
    from pytest_cloudstack.local.runner import LambdaRunner

TESTED_MOTO = ">=5.2.1,<5.3"


@dataclass(frozen=True)
class Seam:
    """One private moto callable we replace, and the parameters our replacement relies on."""

    module: str
    owner: str | None  # class name, or None for a module-level function
    name: str
    parameters: tuple[str, ...]

    @property
    def label(self) -> str:
        owner = f"{self.owner}." if self.owner else ""
        return f"{self.module}.{owner}{self.name}"

    def container(self) -> Any:
        module = importlib.import_module(self.module)
        return getattr(module, self.owner) if self.owner else module


SEAMS = (
    Seam(
        "moto.awslambda.models",
        "LambdaFunction",
        "invoke",
        ("self", "body", "request_headers", "response_headers"),
    ),
    Seam(
        "moto.awslambda.models",
        "LambdaFunction",
        "create_from_cloudformation_json",
        ("resource_name", "cloudformation_json", "account_id", "region_name"),
    ),
    Seam(
        "moto.awslambda.models",
        "LambdaBackend",
        "create_event_source_mapping",
        ("self", "spec"),
    ),
    Seam(
        "moto.s3.notifications",
        None,
        "_invoke_awslambda",
        ("account_id", "event_body", "fn_arn", "region_name"),
    ),
    Seam(
        "moto.sns.models",
        "Subscription",
        "publish",
        ("self", "message", "message_id", "subject", "message_attributes"),
    ),
    Seam(
        "moto.events.models",
        "Rule",
        "send_to_targets",
        ("self", "original_event", "transform_input"),
    ),
    Seam("moto.events.notifications", None, "_invoke_lambda", ("account_id", "fn_arn", "event")),
    Seam("moto.cloudformation.parsing", None, "resource_class_from_type", ("resource_type",)),
    Seam(
        "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend",
        "start_execution",
        ("self", "state_machine_arn", "name", "execution_input"),
    ),
    Seam(
        "moto.cloudformation.parsing",
        None,
        "parse_output",
        ("output_logical_id", "output_json", "resources_map"),
    ),
)

#: other private moto names the local target calls (``resources.py``, ``apigateway/``): each
#: must exist, or the emulator refuses to start, naming it
USED = (
    "moto.apigateway.models.apigateway_backends",
    "moto.apigateway.models.RestAPI.create_from_cloudformation_json",
    "moto.apigatewayv2.models.apigatewayv2_backends",
    "moto.awslambda.utils.get_backend",
    "moto.s3.models.FakeBucket.create_from_cloudformation_json",
    "moto.s3.models.s3_backends",
    "moto.stepfunctions.responses.get_backend",
    "moto.settings.moto_server_port",
    "moto.cloudformation.exceptions.UnformattedGetAttTemplateException",
    "moto.utilities.utils.get_partition",
)

#: attributes of moto models that the runner and the replacements read
MODEL_ATTRIBUTES = {
    "moto.awslambda.models.LambdaFunction": (
        "account_id",
        "region",
        "function_name",
        "function_arn",
        "version",
        "run_time",
        "handler",
        "timeout",
        "memory_size",
        "environment_vars",
        "code_bytes",
        "code_sha_256",
        "layers",
        "package_type",
        "logs_group_name",
        "logs_backend",
        "event_invoke_config",
    ),
    "moto.sns.models.Subscription": ("protocol", "endpoint", "arn", "topic", "account_id"),
    "moto.events.models.Rule": ("targets", "event_pattern", "account_id"),
    "moto.apigateway.models.RestAPI": (
        "id",
        "account_id",
        "region_name",
        "resources",
        "stages",
        "authorizers",
        "binaryMediaTypes",
    ),
    "moto.apigateway.models.Resource": ("id", "resource_methods", "get_path"),
    "moto.apigateway.models.Method": (
        "http_method",
        "authorizer_id",
        "method_integration",
    ),
    "moto.apigateway.models.Integration": (
        "integration_type",
        "uri",
        "request_templates",
        "passthrough_behaviour",
        "request_parameters",
        "integration_responses",
    ),
    "moto.apigatewayv2.models.Route": (
        "route_key",
        "target",
        "authorizer_id",
    ),
    "moto.apigatewayv2.models.Integration": (
        "integration_type",
        "integration_uri",
        "payload_format_version",
        "request_parameters",
        "integration_subtype",
    ),
    "moto.apigatewayv2.models.Stage": ("name", "stage_variables"),
    "moto.apigatewayv2.models.Api": (
        "api_id",
        "api_endpoint",
        "backend",
        "routes",
        "integrations",
        "stages",
        "authorizers",
        "cors_configuration",
    ),
}


def check() -> list[str]:
    """What moved in the installed moto: empty when every seam is where we expect it."""
    problems = []
    for seam in SEAMS:
        try:
            target = getattr(seam.container(), seam.name)
        except (ImportError, AttributeError) as error:
            problems.append(f"{seam.label} is gone ({error})")
            continue
        try:
            parameters = tuple(inspect.signature(target).parameters)
        except (TypeError, ValueError):
            problems.append(f"{seam.label} has no inspectable signature")
            continue
        if parameters[: len(seam.parameters)] != seam.parameters:
            problems.append(
                f"{seam.label} takes {parameters}, expected it to start with {seam.parameters}"
            )
    for dotted in USED:
        if not _resolves(dotted):
            problems.append(f"{dotted} is gone")
    return problems


def _resolves(dotted: str) -> bool:
    """Whether ``module.attribute[.attribute...]`` names something in the installed moto."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for name in parts[split:]:
                target = getattr(target, name)
        except AttributeError:
            return False
        return True
    return False


def _moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


class _Patches:
    """The installed replacements; process-wide because moto's backends are."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runners: list[LambdaRunner] = []
        self.originals: dict[Seam, Any] = {}

    def active(self) -> LambdaRunner | None:
        runners = self.runners
        return runners[-1] if runners else None

    def install(self, runner: LambdaRunner) -> None:
        with self.lock:
            if not self.runners:
                problems = check()
                if problems:
                    raise ConfigurationError(
                        f"the local target cannot run Lambda handlers with moto {_moto_version()} "
                        f"(pytest-cloudstack is tested with moto{TESTED_MOTO}): "
                        + "; ".join(problems)
                        + f". Install 'moto[server]{TESTED_MOTO}'"
                    )
                for seam in SEAMS:
                    container = seam.container()
                    original = inspect.getattr_static(container, seam.name)
                    self.originals[seam] = original
                    setattr(container, seam.name, _REPLACEMENTS[seam.name](original))
            self.runners.append(runner)

    def uninstall(self, runner: LambdaRunner) -> None:
        with self.lock:
            if runner in self.runners:
                self.runners.remove(runner)
            if self.runners:
                return
            for seam, original in self.originals.items():
                setattr(seam.container(), seam.name, original)
            self.originals.clear()


_PATCHES = _Patches()
install = _PATCHES.install
uninstall = _PATCHES.uninstall
active = _PATCHES.active


def _call(original: Any, *args: Any, **kwargs: Any) -> Any:
    """Call what ``getattr_static`` returned: a plain function, classmethod or staticmethod."""
    if isinstance(original, (classmethod, staticmethod)):
        return original.__func__(*args, **kwargs)
    return original(*args, **kwargs)


# -- the replacements --------------------------------------------------------------------------


def _invoke(original: Any) -> Any:
    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        runner = active()
        if runner is None:
            return _call(original, self, body, request_headers, response_headers)
        return runner.handle(self, body, request_headers, response_headers)

    return invoke


def _create_from_cloudformation_json(original: Any) -> Any:
    def create(
        cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kw: Any
    ) -> Any:
        function = original.__func__(cls, resource_name, cloudformation_json, *args, **kw)
        layers = cloudformation_json.get("Properties", {}).get("Layers")
        if layers:
            # Kept aside (not in moto's validated list): a public layer ARN, unknown to the
            # emulator, must not fail the deploy; the runner warns about it at the first invoke.
            function._cloudstack_layers = list(layers)
        return function

    return classmethod(create)


def _create_event_source_mapping(original: Any) -> Any:
    def create_event_source_mapping(self: Any, spec: Any) -> Any:
        mapping = original(self, spec)
        runner = active()
        service = mapping.event_source_arn.split(":")[2]
        if runner is not None and service in ("sqs", "dynamodb"):
            _unhook_inline_trigger(mapping)
            runner.sources.watch(mapping.get_configuration(), mapping.account_id, mapping.region)
        return mapping

    return create_event_source_mapping


def _unhook_inline_trigger(mapping: Any) -> None:
    from moto.dynamodb.models import dynamodb_backends
    from moto.sqs.models import sqs_backends

    owners = [
        *sqs_backends[mapping.account_id][mapping.region].queues.values(),
        *dynamodb_backends[mapping.account_id][mapping.region].tables.values(),
    ]
    for owner in owners:
        hooks = getattr(owner, "lambda_event_source_mappings", {})
        for key, value in list(hooks.items()):
            if value is mapping:
                del hooks[key]


def _invoke_in_background(original: Any) -> Any:
    def deliver(*args: Any, **kwargs: Any) -> None:
        runner = active()
        if runner is None:
            original(*args, **kwargs)
            return
        runner.in_background(lambda: original(*args, **kwargs))

    return deliver


def _s3_invoke(original: Any) -> Any:
    deliver = _invoke_in_background(original)

    def invoke(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        # moto encodes the key with quote_plus, "/" included; S3 leaves "/" as it is.
        with contextlib.suppress(KeyError, TypeError, AttributeError):
            for record in event_body["Records"]:
                key = record["s3"]["object"]["key"]
                record["s3"]["object"]["key"] = quote_plus(unquote_plus(key), safe="/")
        deliver(account_id, event_body, fn_arn, region_name)

    return invoke


def _subscription_publish(original: Any) -> Any:
    def publish(
        self: Any,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        runner = active()
        if runner is None or self.protocol != "lambda":
            original(self, message, message_id, subject, message_attributes, *args, **kwargs)
            return
        matcher = getattr(self, "_filter_policy_matcher", None)
        if matcher is not None and not matcher.matches(message_attributes, message):
            return
        structure = kwargs.get("message_structure") or (args[2] if len(args) > 2 else None)
        if structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        now = datetime.now(timezone.utc)
        event = {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": self.arn,
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": message_id,
                        "TopicArn": self.topic.arn,
                        "Subject": subject,
                        "Message": message,
                        "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.")
                        + f"{now.microsecond // 1000:03d}Z",
                        "SignatureVersion": "1",
                        "Signature": "EXAMPLE",
                        "SigningCertUrl": "EXAMPLE",
                        "UnsubscribeUrl": "EXAMPLE",
                        "MessageAttributes": {
                            name: {"Type": value["Type"], "Value": value["Value"]}
                            for name, value in (message_attributes or {}).items()
                        },
                    },
                }
            ]
        }
        runner.invoke_event_arn(
            self.account_id, self.endpoint.split(":")[3], self.endpoint, json.dumps(event).encode()
        )

    return publish


def _send_to_targets(original: Any) -> Any:
    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        runner = active()
        targets = list(self.targets)
        functions = [t for t in targets if t.get("Arn", "").split(":")[2:3] == ["lambda"]]
        if runner is not None and functions and self.event_pattern.matches_event(original_event):
            for target in functions:
                event = _target_input(target, original_event, transform_input)
                arn = target["Arn"]
                runner.invoke_event_arn(
                    self.account_id, arn.split(":")[3], arn, json.dumps(event).encode()
                )
        others = [t for t in targets if t not in functions]
        if runner is None:
            others = targets
        if others:
            # moto's own delivery for every other target type (a copy: targets stay untouched)
            rule = copy.copy(self)
            rule.targets = others
            original(rule, original_event, transform_input)

    return send_to_targets


def _target_input(target: dict[str, Any], event: dict[str, Any], transform: bool) -> Any:
    if "Input" in target:
        return json.loads(target["Input"])
    shaped = dict(event)
    shaped.pop("ingestion-time", None)  # moto's bookkeeping, not part of an event
    stamp = shaped.get("time")
    if isinstance(stamp, (int, float)):
        shaped["time"] = datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    shaped.setdefault("id", str(uuid.uuid4()))
    transformer = target.get("InputTransformer")
    if transform and transformer:
        from moto.events.utils import EventTemplateParser

        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=cast(Any, shaped),
        )
    return shaped


@functools.lru_cache(maxsize=1)
def _local_models() -> dict[str, Any]:
    from pytest_cloudstack.local.resources import models

    return models()


def _resource_class_from_type(original: Any) -> Any:
    def resource_class_from_type(resource_type: str) -> Any:
        if active() is not None:
            model = _local_models().get(resource_type)
            if model is not None:
                return model
        return original(resource_type)

    return resource_class_from_type


def _parse_output(original: Any) -> Any:
    def parse_output(output_logical_id: str, output_json: Any, resources_map: Any) -> Any:
        output = original(output_logical_id, output_json, resources_map)
        runner = active()
        if runner is not None and output is not None and isinstance(output.value, str):
            from pytest_cloudstack.local.apigateway import apis, urls

            output.value = urls.rewrite(output.value, runner.endpoint_url, apis.known)
        return output

    return parse_output


def _start_execution(original: Any) -> Any:
    def start_execution(
        self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return start_execution


_REPLACEMENTS: dict[str, Callable[[Any], Any]] = {
    "invoke": _invoke,
    "create_from_cloudformation_json": _create_from_cloudformation_json,
    "create_event_source_mapping": _create_event_source_mapping,
    "_invoke_awslambda": _s3_invoke,
    "publish": _subscription_publish,
    "send_to_targets": _send_to_targets,
    "_invoke_lambda": _invoke_in_background,
    "resource_class_from_type": _resource_class_from_type,
    "parse_output": _parse_output,
    "start_execution": _start_execution,
}

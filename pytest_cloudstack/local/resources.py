"""Template resources that moto's CloudFormation skips, or creates without part of their
properties, made as the service makes them on the local target.

``seam.py`` hands these classes to moto's template parser in place of moto's own (through
``moto.cloudformation.parsing.resource_class_from_type``): API Gateway's (``apigateway/cfn.py``)
and, here, S3 buckets, whose ``NotificationConfiguration`` moto ignores (so an S3 -> Lambda
chain declared in a template, SAM ``S3`` events included, never started).
"""

from __future__ import annotations

from typing import Any

from pytest_cloudstack.local.apigateway.cfn import MODELS as API_MODELS
from pytest_cloudstack.local.apigateway.cfn import CfnModel, Created

#: CloudFormation notification list -> (moto's key, the target's field in moto's shape)
_NOTIFICATIONS = (
    ("LambdaConfigurations", "CloudFunctionConfiguration", "Function", "CloudFunction"),
    ("QueueConfigurations", "QueueConfiguration", "Queue", "Queue"),
    ("TopicConfigurations", "TopicConfiguration", "Topic", "Topic"),
)


def notification_configuration(declared: dict[str, Any]) -> dict[str, Any]:
    """A template's ``NotificationConfiguration`` in the shape moto's S3 backend stores."""
    stored: dict[str, Any] = {}
    for cfn_list, key, cfn_field, field in _NOTIFICATIONS:
        items = []
        for entry in declared.get(cfn_list) or []:
            item: dict[str, Any] = {field: entry[cfn_field], "Event": [entry["Event"]]}
            rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            if rules:
                item["Filter"] = {
                    "S3Key": {
                        "FilterRule": [
                            {"Name": str(rule["Name"]).lower(), "Value": rule["Value"]}
                            for rule in rules
                        ]
                    }
                }
            items.append(item)
        if items:
            stored[key] = items
    if (declared.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"):
        stored["EventBridgeConfiguration"] = {}
    return stored


def _bucket_model() -> Any:
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.utils import get_partition

    class Bucket(FakeBucket):
        """moto's bucket, with the template's NotificationConfiguration applied."""

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            bucket = FakeBucket.create_from_cloudformation_json.__func__(  # type: ignore[attr-defined]
                cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
            declared = (cloudformation_json.get("Properties") or {}).get(
                "NotificationConfiguration"
            )
            if isinstance(declared, dict):
                backend = s3_backends[account_id][get_partition(region_name)]
                backend.put_bucket_notification_configuration(
                    bucket.name, notification_configuration(declared)
                )
            return bucket

    return Bucket


def _function_name(value: Any) -> str:
    """A function's name from a template value: a name, or an ARN (qualified or not)."""
    text = str(value)
    return text.split(":")[6] if text.startswith("arn:") else text.split(":")[0]


class Version(CfnModel):
    """``AWS::Lambda::Version``: a published version; ``Ref`` is its ARN, as on AWS (moto's
    gives neither that nor ``Fn::GetAtt Version.Version``)."""

    TYPE = "AWS::Lambda::Version"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Version", "FunctionArn")

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        from moto.awslambda.utils import get_backend
        from moto.utilities.utils import get_partition

        name = _function_name(properties["FunctionName"])
        published = get_backend(account_id, region_name).publish_version(
            name, properties.get("Description", "")
        )
        assert published is not None
        version = str(published.version)
        arn = f"arn:{get_partition(region_name)}:lambda:{region_name}:{account_id}:function:{name}:{version}"
        return Created(arn, {"Version": version, "FunctionArn": arn})


class Alias(CfnModel):
    """``AWS::Lambda::Alias`` (moto's CloudFormation skips it): invocable as ``name:alias``."""

    TYPE = "AWS::Lambda::Alias"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AliasArn"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        from moto.awslambda.utils import get_backend

        alias = get_backend(account_id, region_name).create_alias(
            name=properties["Name"],
            function_name=_function_name(properties["FunctionName"]),
            function_version=str(properties["FunctionVersion"]),
            description=properties.get("Description", ""),
            routing_config=properties.get("RoutingConfig"),  # type: ignore[arg-type]
        )
        return Created(alias.arn, {"AliasArn": alias.arn})


class StateMachine(CfnModel):
    """``AWS::StepFunctions::StateMachine`` in the backend that runs executions.

    moto keeps state machines that run (its ``execute_state_machine`` setting, which the local
    target turns on) in another backend than the one its CloudFormation writes to, and reads
    only ``DefinitionString``: here ``Definition``, ``DefinitionSubstitutions`` and a packaged
    ``DefinitionS3Location`` count too.
    """

    TYPE = "AWS::StepFunctions::StateMachine"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "Name", "StateMachineRevisionId")

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        import json

        from moto.stepfunctions.responses import get_backend

        definition = properties.get("DefinitionString")
        if definition is None and isinstance(properties.get("Definition"), dict):
            definition = json.dumps(properties["Definition"])
        location = properties.get("DefinitionS3Location")
        if definition is None and isinstance(location, dict):
            definition = _s3_text(account_id, region_name, location)
        definition = str(definition or "")
        for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + str(key) + "}", str(value))
        tags = properties.get("Tags") or []
        return get_backend(account_id, region_name).create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=properties.get("RoleArn", ""),
            tags=[{"key": tag["Key"], "value": tag["Value"]} for tag in tags],
            sm_type=properties.get("StateMachineType"),
        )

    @staticmethod
    def delete_from_cloudformation_json(
        resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.stepfunctions.responses import get_backend

        get_backend(account_id, region_name).delete_state_machine(resource_name)


def _s3_text(account_id: str, region_name: str, location: dict[str, Any]) -> str:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account_id][get_partition(region_name)]
    key = backend.get_object(location["Bucket"], location["Key"])
    return bytes(key.value).decode() if key is not None else ""


def models() -> dict[str, Any]:
    """CloudFormation type -> the class that creates it on the local target."""
    return {
        **API_MODELS,
        "AWS::S3::Bucket": _bucket_model(),
        Version.TYPE: Version,
        Alias.TYPE: Alias,
        StateMachine.TYPE: StateMachine,
    }

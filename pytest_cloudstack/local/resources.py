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


def models() -> dict[str, Any]:
    """CloudFormation type -> the class that creates it on the local target."""
    return {**API_MODELS, "AWS::S3::Bucket": _bucket_model()}

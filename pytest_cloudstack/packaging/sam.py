"""SAM templates (``Transform: AWS::Serverless-2016-10-31``): where and how they are transformed.

On AWS the service transforms them (the request acknowledges ``CAPABILITY_AUTO_EXPAND``).
Emulators such as moto ignore ``Transform``, so there the template is transformed here with
``aws-sam-translator`` (the ``sam`` extra), the library the service itself runs. Nothing in it
may reach AWS: managed policy names resolve from the translator's bundled list, and
applications from the Serverless Application Repository (which need a SAR call) are refused.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_cloudstack.packaging.errors import PackagingError
from pytest_cloudstack.settings import SamTransform

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


def transforms(body: Mapping[str, Any]) -> list[str]:
    """The template's declared transforms, as a list (``Transform`` may be a string or a list)."""
    declared = body.get("Transform")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [item for item in declared if isinstance(item, str)]
    return []


def is_sam(body: Mapping[str, Any]) -> bool:
    """Whether the template uses the SAM transform."""
    return SAM_TRANSFORM in transforms(body)


def transform_here(setting: SamTransform, on_aws: bool) -> bool:
    """Whether SAM templates are transformed client-side for this target.

    ``auto``: on AWS the service does it; the emulators this plugin targets (moto, the embedded
    ``local``) ignore ``Transform``, so for them it is done here. LocalStack, which transforms
    itself, gives the same result either way.
    """
    if setting is SamTransform.AUTO:
        return not on_aws
    return setting is SamTransform.CLIENT


def partition(region: str) -> str:
    """The AWS partition of a region."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def transform(
    body: Mapping[str, Any],
    parameters: Mapping[str, str],
    region: str,
    path: Path | None,
) -> dict[str, Any]:
    """The plain CloudFormation a SAM template expands to, computed here, offline.

    Raises :class:`PackagingError` with the translator's messages (each names its resource)
    when the translator rejects the template, and when the template needs something that only
    the service can do.
    """
    others = [name for name in transforms(body) if name != SAM_TRANSFORM]
    if others:
        raise PackagingError(
            f"transform {', '.join(others)} can only run in CloudFormation, and this target "
            "does not run transforms: set ini cloud_stack_sam_transform = service for a target "
            "that does, or remove it",
            path=path,
        )
    for logical_id, resource in _resources(body):
        if resource.get("Type") == "AWS::Serverless::Application":
            location = (resource.get("Properties") or {}).get("Location")
            if isinstance(location, dict):
                raise PackagingError(
                    "Serverless Application Repository applications need the service's "
                    "transform (it calls SAR): set ini cloud_stack_sam_transform = service, or "
                    "point Location at a local template",
                    f"resource {logical_id} (AWS::Serverless::Application), property Location",
                    path,
                )
    try:
        from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.parser.parser import Parser
        from samtranslator.plugins.application.serverless_app_plugin import ServerlessAppPlugin
        from samtranslator.translator.translator import Translator
    except ImportError as error:
        raise PackagingError(
            "this SAM template is transformed client-side for this target, which needs the "
            "'sam' extra: pip install 'pytest-cloudstack[sam]' "
            f"({error}); or set ini cloud_stack_sam_transform = service for a target that "
            "transforms SAM itself",
            path=path,
        ) from None
    import boto3

    policies = get_bundled_managed_policy_map(partition(region)) or {}

    def no_sar() -> Any:
        raise PackagingError("a Serverless Application Repository call was attempted", path=path)

    translator = Translator(
        None,
        Parser(),
        plugins=[ServerlessAppPlugin(sar_client_creator=no_sar)],
        # Only the region is read from it: no credentials, no call.
        boto_session=boto3.session.Session(region_name=region),
    )
    values: dict[str, Any] = dict(parameters)
    values.setdefault("AWS::Region", region)
    values.setdefault("AWS::Partition", partition(region))
    try:
        result: dict[str, Any] = translator.translate(
            copy.deepcopy(dict(body)),
            parameter_values=values,
            get_managed_policy_map=lambda: policies,
        )
    except InvalidDocumentException as error:
        causes = "\n".join(f"  - {cause.message}" for cause in error.causes)
        raise PackagingError(
            f"aws-sam-translator rejected the SAM template:\n{causes}", path=path
        ) from None
    except PackagingError:
        raise
    except Exception as error:  # the translator's other errors carry a message too
        message = getattr(error, "message", None) or str(error)
        raise PackagingError(
            f"aws-sam-translator could not transform the template: {message}", path=path
        ) from None
    finally:
        # Its default publisher discards metrics; left unpublished, they log a warning when
        # the translator is garbage-collected.
        translator.metrics.publish()
    return result


def _resources(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    resources = body.get("Resources")
    if not isinstance(resources, dict):
        return []
    return [(k, v) for k, v in resources.items() if isinstance(v, dict)]

"""Packaging: local code paths, SAM templates, CDK assemblies and large templates, made deployable.

``package_template`` is the one entry point (``run.py`` calls it between loading the template
and deploying it); the modules each have one job: ``zips`` (deterministic archives),
``dependencies`` (requirements.txt builds), ``artifacts`` (the artifact bucket and uploads),
``resources`` (which properties take local paths), ``sam`` (client-side SAM transform), ``cdk``
(cloud assembly assets) and ``package`` (the walk that ties them together).
"""

from __future__ import annotations

from pytest_cloudstack.packaging.errors import PackagingError
from pytest_cloudstack.packaging.package import (
    MAX_TEMPLATE_BODY,
    PackagedTemplate,
    PackagingOptions,
    package_for_run,
    package_template,
)

__all__ = [
    "MAX_TEMPLATE_BODY",
    "PackagedTemplate",
    "PackagingError",
    "PackagingOptions",
    "package_for_run",
    "package_template",
]

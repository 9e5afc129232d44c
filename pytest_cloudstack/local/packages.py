"""Which host packages a locally-run handler may import: boto3 (as the runtime ships it) and the
packages the user named in ini ``cloud_stack_local_packages``, each with its dependencies.

The answer is a map from top-level import name to the directories to import it from, plus the
distributions' metadata directories, handed to the worker's import finder (``worker.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import metadata

from pytest_cloudstack.errors import ConfigurationError

#: What the Lambda Python runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3",)

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"\bextra\s*==")


def normalise(name: str) -> str:
    """PEP 503-style name, with ``_`` so that it also matches import names."""
    return re.sub(r"[-_.]+", "_", name).lower()


@dataclass
class HostPackages:
    """Top-level module -> directories, and distribution name -> metadata directory."""

    modules: dict[str, list[str]] = field(default_factory=dict)
    distributions: dict[str, str] = field(default_factory=dict)


def resolve(names: tuple[str, ...]) -> HostPackages:
    """The runtime's packages plus ``names`` (distribution or import names), with dependencies.

    Raises ``ConfigurationError`` for a name that is not installed on the host.
    """
    by_import_name = None
    wanted: list[metadata.Distribution] = []
    for name in (*RUNTIME_PACKAGES, *names):
        try:
            wanted.append(metadata.distribution(name))
            continue
        except metadata.PackageNotFoundError:
            pass
        if by_import_name is None:
            by_import_name = metadata.packages_distributions()
        owners = by_import_name.get(name, [])
        if not owners:
            if name in RUNTIME_PACKAGES:  # boto3 is a dependency of the plugin: cannot happen
                continue
            raise ConfigurationError(
                f"ini cloud_stack_local_packages names {name!r}, which is not installed here: "
                "list installed distributions or import names (e.g. aws-lambda-powertools)"
            )
        wanted.extend(metadata.distribution(owner) for owner in owners)
    result = HostPackages()
    seen: set[str] = set()
    while wanted:
        distribution = wanted.pop()
        key = normalise(distribution.metadata["Name"])
        if key in seen:
            continue
        seen.add(key)
        location = str(distribution.locate_file(""))
        result.distributions[key] = location
        for module in _top_level(distribution):
            result.modules.setdefault(module, [])
            if location not in result.modules[module]:
                result.modules[module].append(location)
        wanted.extend(_dependencies(distribution))
    return result


def _dependencies(distribution: metadata.Distribution) -> list[metadata.Distribution]:
    found = []
    for requirement in distribution.requires or ():
        # Extras are not installed by a plain `pip install X -t layer/`; leave them out.
        if _EXTRA.search(requirement):
            continue
        match = _NAME.match(requirement)
        if not match:
            continue
        try:
            found.append(metadata.distribution(match.group(1)))
        except metadata.PackageNotFoundError:
            continue  # a dependency for another platform or Python version
    return found


def _top_level(distribution: metadata.Distribution) -> list[str]:
    text = distribution.read_text("top_level.txt")
    if text:
        return [line.strip() for line in text.splitlines() if line.strip()]
    names: set[str] = set()
    for path in distribution.files or ():
        first = path.parts[0]
        if first.endswith((".dist-info", ".egg-info", ".pth")) or first in ("..", "__pycache__"):
            continue
        if len(path.parts) == 1:
            if not first.endswith((".py", ".so", ".pyd")):
                continue
            first = first.split(".")[0]
        names.add(first)
    return sorted(names)

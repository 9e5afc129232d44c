"""Which Python runs a function on ``local``: this host's, whatever ``python3.x`` it declares.

Handlers run in workers started from the interpreter that runs pytest (their dependencies are
built for it, see ``packaging/dependencies.py``). A declared runtime that differs is said once,
in the deploy lines: an older one is usually harmless, a newer one means code that needs it
fails here and not on Lambda.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from pytest_cloudstack.packaging.dependencies import python_version

FUNCTION_TYPE = "AWS::Lambda::Function"


def declared_runtimes(body: Mapping[str, Any], parameters: Mapping[str, str]) -> set[str]:
    """The ``python3.x`` runtimes of the template's functions (a ``Ref`` to a parameter read)."""
    found: set[str] = set()
    resources = body.get("Resources")
    if not isinstance(resources, Mapping):
        return found
    for resource in resources.values():
        if not isinstance(resource, Mapping) or resource.get("Type") != FUNCTION_TYPE:
            continue
        properties = resource.get("Properties")
        runtime = properties.get("Runtime") if isinstance(properties, Mapping) else None
        if isinstance(runtime, Mapping) and isinstance(runtime.get("Ref"), str):
            runtime = parameters.get(runtime["Ref"])
        if isinstance(runtime, str) and python_version(runtime) is not None:
            found.add(runtime)
    return found


def runtime_notes(
    runtimes: set[str], host: tuple[int, int] = (sys.version_info[0], sys.version_info[1])
) -> list[str]:
    """One line for the runtimes older than the host's Python, one for the newer ones."""
    here = f"this host's Python {host[0]}.{host[1]}"
    ordered = sorted(runtimes, key=lambda runtime: python_version(runtime) or (0, 0))
    older = [r for r in ordered if (python_version(r) or host) < host]
    newer = [r for r in ordered if (python_version(r) or host) > host]
    notes = []
    if older:
        notes.append(
            f"{_names(older)} functions run on {here} on the local target "
            f"(their requirements.txt is built for it)"
        )
    if newer:
        notes.append(
            f"{_names(newer)} functions run on {here} on the local target, older than their "
            f"runtime: code that needs {_names(newer)} fails here and not on Lambda "
            "(run pytest on that Python for a faithful run)"
        )
    return notes


def _names(runtimes: list[str]) -> str:
    return runtimes[0] if len(runtimes) == 1 else ", ".join(runtimes[:-1]) + f" and {runtimes[-1]}"

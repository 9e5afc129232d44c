"""Which Python runs a function on ``local``: its own ``python3.x`` when this machine has one.

A handler declaring ``python3.12`` runs on a ``python3.12`` interpreter found on ``PATH`` or under
pyenv (``$PYENV_ROOT/versions``), with its ``requirements.txt`` built for that version; when there
is none, or when it could not import boto3 as the runtime ships it (boto3 supports Python 3.10
and newer), or when ``cloud_stack_local_packages`` lets host packages in (installed for the host's
Python), it runs on the interpreter that runs pytest, and the deploy lines say so once.

The pytest process (packaging, the deploy lines) and the emulator's process (the Lambda runner)
ask the same question and get the same answer: the choice depends only on this machine.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_cloudstack.packaging.dependencies import python_version

FUNCTION_TYPE = "AWS::Lambda::Function"
HOST = (sys.version_info[0], sys.version_info[1])


def interpreter_for(version: tuple[int, int], local_packages: tuple[str, ...] = ()) -> str:
    """The interpreter that runs a ``python{version}`` handler here (``sys.executable``: the
    host's)."""
    found = _own_interpreter(version) if version != HOST and not local_packages else None
    return found or sys.executable


def runs_on(version: tuple[int, int], local_packages: tuple[str, ...] = ()) -> tuple[int, int]:
    """The Python version that runs a ``python{version}`` handler here."""
    return version if interpreter_for(version, local_packages) != sys.executable else HOST


@functools.cache
def _own_interpreter(version: tuple[int, int]) -> str | None:
    if version < boto3_floor():
        return None
    name = f"python{version[0]}.{version[1]}"
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    on_path = shutil.which(name)
    # A pyenv shim exists for every installed version and runs one of pyenv's versions, which
    # are looked at directly below: asking the shim (a shell script) only costs ~0.15 s.
    candidates = [] if on_path is None or Path(on_path).parent == pyenv / "shims" else [on_path]
    prefix = f"{version[0]}.{version[1]}."
    if (pyenv / "versions").is_dir():
        installed = [p for p in (pyenv / "versions").iterdir() if p.name.startswith(prefix)]
        candidates += [str(p / "bin" / name) for p in sorted(installed, reverse=True)]
    for candidate in candidates:
        if _reports(candidate, version):
            return candidate
    return None


def _reports(path: str, version: tuple[int, int]) -> bool:
    """Whether ``path`` runs and says it is Python ``version``: a shim of another version
    manager fails when that version is not active, an interpreter may be broken; ask it.

    The answer of an interpreter binary is cached on disk by its file's identity, since every
    session (and its emulator) asks; a script (a shim) is always asked.
    """
    from pytest_cloudstack.paths import cache_home, read_cached_json, write_cached_json

    wanted = f"{version[0]}.{version[1]}"
    try:
        resolved = Path(path).resolve(strict=True)
        with resolved.open("rb") as binary:
            script = binary.read(2) == b"#!"
        info = resolved.stat()
    except OSError:
        return False
    key = f"{resolved}|{info.st_ino}|{info.st_size}|{info.st_mtime_ns}"
    cache = cache_home() / "interpreters.json"
    known = read_cached_json(cache)
    known = known if isinstance(known, dict) else {}
    if not script and known.get(key) == wanted:
        return True
    try:
        answer = subprocess.run(
            [path, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    reported = answer.stdout.strip() if answer.returncode == 0 else ""
    if not script and reported:
        write_cached_json(cache, {**known, key: reported})
    return reported == wanted


@functools.lru_cache(maxsize=1)
def boto3_floor() -> tuple[int, int]:
    """The oldest Python the host's boto3 and botocore support (what handlers import)."""
    floor = (3, 0)
    for name in ("boto3", "botocore"):
        try:
            requires = metadata.metadata(name)["Requires-Python"] or ""
        except metadata.PackageNotFoundError:
            continue
        match = re.search(r">=\s*(\d+)\.(\d+)", requires)
        if match:
            floor = max(floor, (int(match.group(1)), int(match.group(2))))
    return floor


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


def runtime_notes(runtimes: set[str], local_packages: tuple[str, ...] = ()) -> list[str]:
    """The deploy lines for runtimes that run on the host's Python instead of their own."""
    here = f"this host's Python {HOST[0]}.{HOST[1]}"
    ordered = sorted(runtimes, key=lambda runtime: python_version(runtime) or (0, 0))
    fallback = [
        r
        for r in ordered
        if (v := python_version(r)) is not None and v != HOST and runs_on(v, local_packages) == HOST
    ]
    older = [r for r in fallback if (python_version(r) or HOST) < HOST]
    newer = [r for r in fallback if (python_version(r) or HOST) > HOST]
    notes = []
    if older:
        notes.append(
            f"{_names(older)} functions run on {here} on the local target "
            f"(their requirements.txt is built for it; {_why(older, local_packages)})"
        )
    if newer:
        notes.append(
            f"{_names(newer)} functions run on {here} on the local target, older than their "
            f"runtime: code that needs {_names(newer)} fails here and not on Lambda "
            f"({_why(newer, local_packages)})"
        )
    return notes


def _why(runtimes: list[str], local_packages: tuple[str, ...]) -> str:
    if local_packages:
        return "ini cloud_stack_local_packages lets in packages installed for the host's Python"
    floor = boto3_floor()
    versions = [python_version(r) or HOST for r in runtimes]
    if all(v < floor for v in versions):
        return f"boto3 here needs Python {floor[0]}.{floor[1]} or newer"
    return f"no {_names(runtimes)} interpreter on PATH or under pyenv"


def _names(runtimes: list[str]) -> str:
    return runtimes[0] if len(runtimes) == 1 else ", ".join(runtimes[:-1]) + f" and {runtimes[-1]}"

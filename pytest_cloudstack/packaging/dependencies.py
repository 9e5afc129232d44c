"""Python dependencies of a function folder: ``requirements.txt`` installed as ``sam build`` does.

pip installs into a folder for the function's runtime and architecture, not for this machine:
``--platform``/``--python-version``/``--abi`` with ``--only-binary=:all:`` pick the wheels Lambda
can load (a wheel built for the host's Python or CPU would import-fail in Lambda). Wheels only:
an sdist would need building, maybe with a compiler, and the result would be for the host.

For the ``local`` target the handler runs on this machine, on its own ``python3.x`` when one is
installed, else on the host's interpreter (``local/interpreter.py``): there the build is for that
Python version and this machine's platform instead (``for_python``), or a compiled dependency
(``pydantic_core``) built for cp39 would not import on the host's 3.11.

A build is cached under the hash of what determines it: the requirements, the runtime, the
architecture, or the host's interpreter and platform (and the function's sources when the
requirements point at local paths). A source edit does not reinstall anything: the sources are
added at zip time.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from pytest_cloudstack.packaging.errors import PackagingError

# Lambda's Python runtimes: Amazon Linux 2 (glibc 2.26) up to 3.11, Amazon Linux 2023 (2.34) after.
_AL2023_FROM = (3, 12)
_GLIBC = {False: 26, True: 34}
_ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
_RUNTIME = re.compile(r"^python(\d)\.(\d+)$")
# A requirement that names a local path makes the build depend on files beside requirements.txt.
_LOCAL_REFERENCE = re.compile(r"^\s*(-e\s+)?(\.|/|file:)|@\s*file:", re.MULTILINE)
_BUILD_SCHEME = "1"  # bump when the pip command changes, to invalidate old builds


def python_version(runtime: str) -> tuple[int, int] | None:
    """``python3.12`` -> (3, 12); None for other runtimes."""
    match = _RUNTIME.match(runtime)
    return (int(match.group(1)), int(match.group(2))) if match else None


def platforms(version: tuple[int, int], architecture: str) -> list[str]:
    """The manylinux platform tags Lambda's Python ``version`` on ``architecture`` can load.

    pip does not expand ``manylinux_2_X`` to older glibc versions by itself: list them all.
    """
    machine = _ARCHITECTURES[architecture]
    newest = _GLIBC[version >= _AL2023_FROM]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(newest, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def pip_command(
    requirements: Path, target: Path, version: tuple[int, int], architecture: str
) -> list[str]:
    """The pip invocation that installs ``requirements`` for Lambda into ``target``."""
    nodot = f"{version[0]}{version[1]}"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--no-compile",  # byte code is for the host's Python; Lambda compiles its own
        "--target",
        str(target),
        "--requirement",
        str(requirements),
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        f"{version[0]}.{version[1]}",
        "--abi",
        f"cp{nodot}",
        "--abi",
        "abi3",
        "--abi",
        "none",
    ]
    for tag in platforms(version, architecture):
        command += ["--platform", tag]
    return command


def host_pip_command(
    requirements: Path, target: Path, version: tuple[int, int] | None = None
) -> list[str]:
    """The pip invocation that installs ``requirements`` for this machine into ``target``: for
    this interpreter, or for CPython ``version`` on this platform.

    Wheels only, as for Lambda: a dependency that works here must not fail on AWS for lack of a
    wheel.
    """
    cross: list[str] = []
    if version is not None and version != sys.version_info[:2]:
        nodot = f"{version[0]}{version[1]}"
        cross = ["--implementation", "cp", "--python-version", f"{version[0]}.{version[1]}"]
        cross += ["--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--no-compile",  # the zip leaves byte code out anyway
        "--target",
        str(target),
        "--requirement",
        str(requirements),
        "--only-binary=:all:",
        *cross,
    ]


def host_interpreter(version: tuple[int, int]) -> str:
    """What a build for this machine depends on: implementation, version, ABI, platform."""
    if version == sys.version_info[:2]:
        return f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}-{sys.abiflags}"
    return f"cpython-{version[0]}{version[1]}-{sysconfig.get_platform()}"


def build_key(
    requirements: Path,
    runtime: str,
    architecture: str,
    for_python: tuple[int, int] | None = None,
) -> str:
    """The cache key of a build: requirements text, runtime, architecture (+ local references).

    A build for this machine is keyed by the Python version and platform instead.
    """
    text = requirements.read_bytes()
    what = [f"host:{host_interpreter(for_python)}"] if for_python else [runtime, architecture]
    digest = hashlib.sha256(
        b"\0".join([_BUILD_SCHEME.encode(), *(part.encode() for part in what), text])
    )
    if _LOCAL_REFERENCE.search(text.decode("utf-8", "replace")):
        from pytest_cloudstack.packaging.zips import collect, fingerprint

        folder = requirements.parent
        digest.update(fingerprint(collect(folder, folder.resolve())).encode())
    return digest.hexdigest()


def install(
    requirements: Path,
    runtime: str,
    architecture: str,
    cache: Path,
    where: str,
    for_python: tuple[int, int] | None = None,
) -> Path:
    """The folder holding ``requirements`` installed for ``runtime``/``architecture``.

    ``for_python``: for that Python version on this machine instead (the ``local`` target, whose
    handlers run here).

    Reused from ``cache`` when an identical build exists. Raises :class:`PackagingError` with
    pip's own error when pip fails, and says so plainly when a dependency has no matching wheel.
    """
    version = python_version(runtime)
    if version is None:
        raise PackagingError(
            f"{requirements.name} found, but runtime {runtime!r} is not a Python runtime",
            where,
        )
    if architecture not in _ARCHITECTURES:
        raise PackagingError(f"unknown architecture {architecture!r} (x86_64 or arm64)", where)
    builds = cache / "dependencies"
    done = builds / build_key(requirements, runtime, architecture, for_python)
    if done.is_dir():
        return done
    builds.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=builds, prefix=".building-"))
    try:
        site = staging / "site"
        command = (
            host_pip_command(requirements, site, for_python)
            if for_python
            else pip_command(requirements, site, version, architecture)
        )
        # pip's own cache stays on: a re-build after a requirements edit reuses downloaded wheels.
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        result = subprocess.run(
            command,
            cwd=requirements.parent,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            raise PackagingError(
                _explain(
                    result.stderr or result.stdout,
                    runtime,
                    architecture,
                    _local_python(for_python) if for_python else None,
                ),
                where,
            )
        (staging / "site").mkdir(exist_ok=True)  # an empty requirements.txt installs nothing
        try:
            os.replace(staging / "site", done)
        except OSError:
            if not done.is_dir():  # another session finished the same build first: use theirs
                raise
        return done
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _local_python(version: tuple[int, int]) -> str:
    if version == sys.version_info[:2]:
        return f"this host's Python {version[0]}.{version[1]}"
    return f"Python {version[0]}.{version[1]} on this machine"


def _explain(output: str, runtime: str, architecture: str, host: str | None = None) -> str:
    # pip's warnings (an unreachable extra index, a cache folder) are noise next to its error.
    lines = [line for line in output.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("WARNING:")] or lines
    tail = "\n".join(f"    {line}" for line in lines[-15:])
    missing = re.findall(r"No matching distribution found for (\S+)", output)
    if missing and host is not None:
        names = ", ".join(sorted(set(missing)))
        return (
            f"pip found no wheel of {names} for {host}, which runs {runtime} functions on the "
            f"local target. Only wheels are installed, as for Lambda: pin a version that "
            f"publishes one, or vendor the package. pip said:\n{tail}"
        )
    if host is not None:
        return (
            f"installing requirements.txt for {host} ({runtime} on local) failed; pip said:\n{tail}"
        )
    if missing:
        names = ", ".join(sorted(set(missing)))
        return (
            f"pip found no wheel of {names} for {runtime} on {architecture} (Lambda's Linux). "
            "Only wheels are installed, as they are what Lambda can load: pin a version that "
            f"publishes a matching wheel, or vendor the package. pip said:\n{tail}"
        )
    return f"installing requirements.txt for {runtime} on {architecture} failed; pip said:\n{tail}"

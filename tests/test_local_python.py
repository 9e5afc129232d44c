"""The right Python for a function on ``local``: its own ``python3.x`` when this machine has one
(and boto3 supports it), else the host's, said in the deploy lines; either way its dependencies
are built for the interpreter that runs it. aws and endpoint targets keep building for the
declared runtime, which is what runs the code there."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MotoServer
from templates import ROLE, python_function

from pytest_cloudstack.local.interpreter import interpreter_for

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
PYDANTIC = "pydantic==2.10.6"  # wheels for cp39 and for the host: a compiled dependency

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Validate:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: {runtime}
      Handler: app.handler
      CodeUri: fn/
"""

HANDLER = """\
import sys

import pydantic
import pydantic_core


class Order(pydantic.BaseModel):
    id: str
    total: int


def handler(event, context):
    if event == "where":
        return [list(sys.version_info[:2]), pydantic_core._pydantic_core.__file__.rsplit("/", 1)[1]]
    return Order(**event).model_dump()
"""

TEST = """\
def test_validates(validate):
    assert validate.invoke({"id": "o-1", "total": "42"}) == {"id": "o-1", "total": 42}
"""


@pytest.fixture(scope="session")
def pydantic_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pydantic and its compiled core for the host, Lambda's python3.9 and this machine's
    python3.12, from PyPI once."""
    folder = tmp_path_factory.mktemp("pydantic-wheels")
    base = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
    base += ["--dest", str(folder), PYDANTIC]
    lambda39 = ["--implementation", "cp", "--python-version", "3.9", "--abi", "cp39"]
    lambda39 += ["--abi", "abi3", "--abi", "none", "--platform", "manylinux2014_x86_64"]
    cp312 = [arg.replace("3.9", "3.12").replace("cp39", "cp312") for arg in lambda39]
    for command in (base, [*base, *lambda39], [*base, *cp312]):
        for _ in range(2):
            if subprocess.run(command, capture_output=True, check=False, timeout=300).returncode:
                continue
            break
    assert len(list(folder.glob("pydantic_core-*.whl"))) == 3, "could not download from PyPI"
    return folder


def pydantic_project(pytester: pytest.Pytester, wheels: Path, runtime: str) -> pytest.Pytester:
    pytester.makefile(".yaml", template=TEMPLATE.format(runtime=runtime))
    pytester.makeini("[pytest]\ncloud_stack_prefix = py39\n")
    (pytester.path / "fn").mkdir()
    (pytester.path / "fn" / "app.py").write_text(HANDLER)
    (pytester.path / "fn" / "requirements.txt").write_text(PYDANTIC + "\n")
    pytester.makepyfile(test_validate=TEST)
    return pytester


@pytest.fixture
def offline_pydantic(pydantic_wheels: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(pydantic_wheels))
    return pydantic_wheels


@pytest.fixture
def python39_project(pytester: pytest.Pytester, offline_pydantic: Path) -> pytest.Pytester:
    return pydantic_project(pytester, offline_pydantic, "python3.9")


@pytest.mark.skipif(sys.version_info[:2] == (3, 9), reason="the host is python3.9 itself")
def test_a_python39_function_with_a_compiled_dependency_runs_on_local(
    python39_project: pytest.Pytester,
) -> None:
    result = python39_project.runpytest("--cloud-stack=local")
    result.assert_outcomes(passed=1)
    note = (
        f"cloudstack: python3.9 functions run on this host's Python {HOST} on the local target "
        "(their requirements.txt is built for it; boto3 here needs Python 3.10 or newer)"
    )
    assert result.outlines.count(note) == 1, result.outlines


@pytest.mark.skipif(
    interpreter_for((3, 12)) == sys.executable, reason="no python3.12 here besides the host"
)
def test_a_python312_function_runs_on_python312_with_its_own_build(
    pytester: pytest.Pytester, offline_pydantic: Path
) -> None:
    project = pydantic_project(pytester, offline_pydantic, "python3.12")
    project.makepyfile(
        test_validate="""
        def test_where(validate):
            assert validate.invoke({"id": "o-1", "total": "42"}) == {"id": "o-1", "total": 42}
            version, core = validate.invoke("where")
            assert version == [3, 12]
            assert ".cpython-312-" in core
        """
    )
    result = project.runpytest("--cloud-stack=local")
    result.assert_outcomes(passed=1)
    assert "python3.12 functions run on this host" not in result.stdout.str()


def _package(moto: MotoServer) -> zipfile.ZipFile:
    s3 = moto.client("s3")
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    return zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def test_an_endpoint_gets_dependencies_for_the_declared_runtime(
    python39_project: pytest.Pytester, moto: MotoServer
) -> None:
    """An endpoint runs the code in its own python3.9 runtime (LocalStack, moto with Docker)."""
    python39_project.makepyfile(test_validate="def test_deployed(cloud_stack):\n    pass\n")
    result = python39_project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1)
    compiled = [n for n in _package(moto).namelist() if n.endswith(".so")]
    assert compiled == ["pydantic_core/_pydantic_core.cpython-39-x86_64-linux-gnu.so"]
    assert "functions run on this host's Python" not in result.stdout.str()


NEWER = "python3.19"  # no such interpreter anywhere yet


def test_a_runtime_newer_than_the_host_is_said(pytester: pytest.Pytester) -> None:
    newer = python_function(
        "Newer",
        """
        import sys
        def handler(event, context):
            return list(sys.version_info[:2])
        """,
        runtime=NEWER,
    )
    same = python_function(
        "Same",
        """
        def handler(event, context):
            return "same"
        """,
        runtime=f"python{HOST}",
    )
    pytester.makefile(".yaml", template=f"Resources:\n{ROLE}\n{newer}\n{same}\n")
    # cfn-lint's gate knows python3.19 is no Lambda runtime yet and would stop the deploy.
    pytester.makeini("[pytest]\ncloud_stack_prefix = newer\ncloud_stack_lint = off\n")
    pytester.makepyfile(
        f"""
        def test_runs_on_the_host(newer, same):
            assert newer.invoke({{}}) == [{sys.version_info[0]}, {sys.version_info[1]}]
            assert same.invoke({{}}) == "same"
        """
    )
    result = pytester.runpytest("--cloud-stack=local")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"cloudstack: {NEWER} functions run on this host's Python {HOST} on the local target, "
            f"older than their runtime: code that needs {NEWER} fails here and not on Lambda "
            f"(no {NEWER} interpreter on PATH or under pyenv)"
        ]
    )
    assert f"python{HOST} functions run" not in result.stdout.str(), "the host's own: no note"


@pytest.mark.skipif(
    interpreter_for((3, 12)) == sys.executable, reason="no python3.12 here besides the host"
)
def test_allowed_host_packages_keep_functions_on_the_host(pytester: pytest.Pytester) -> None:
    """cloud_stack_local_packages are installed for the host's Python: so is what runs them."""
    where = python_function(
        "Where",
        """
        import sys
        import six
        def handler(event, context):
            return list(sys.version_info[:2])
        """,
    )
    pytester.makefile(".yaml", template=f"Resources:\n{ROLE}\n{where}\n")
    pytester.makeini("[pytest]\ncloud_stack_prefix = hostpkg\ncloud_stack_local_packages = six\n")
    pytester.makepyfile(
        f"""
        def test_on_the_host(where):
            assert where.invoke({{}}) == [{sys.version_info[0]}, {sys.version_info[1]}]
        """
    )
    result = pytester.runpytest("--cloud-stack=local")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "cloudstack: python3.12 functions run on this host's Python *(ini "
            "cloud_stack_local_packages lets in packages installed for the host's Python)"
        ]
    )


def _fake_pyenv(root: Path, version: str, target: str) -> Path:
    """A pyenv tree whose ``versions/<version>/bin/python3.X`` links to ``target``."""
    major_minor = ".".join(version.split(".")[:2])
    binary = root / "versions" / version / "bin" / f"python{major_minor}"
    binary.parent.mkdir(parents=True)
    binary.symlink_to(target)
    return binary


@pytest.fixture
def fresh_interpreter_choice() -> Iterator[None]:
    from pytest_cloudstack.local.interpreter import _own_interpreter

    _own_interpreter.cache_clear()
    yield
    _own_interpreter.cache_clear()


@pytest.mark.usefixtures("fresh_interpreter_choice")
def test_pyenv_shims_are_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pyenv shim runs one of pyenv's versions, which are looked at directly; running the shim
    (a shell script) only cost time."""
    root = tmp_path / "pyenv"
    ran = tmp_path / "shim-ran"
    shim = root / "shims" / "python3.99"
    shim.parent.mkdir(parents=True)
    shim.write_text(f"#!/bin/sh\ntouch {ran}\necho 3.99\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(root))
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")
    assert interpreter_for((3, 99)) == sys.executable  # no 3.99 under versions/
    assert not ran.exists()


@pytest.mark.usefixtures("fresh_interpreter_choice")
def test_an_interpreter_binary_is_asked_once_then_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a binary reported is kept by its file's identity: the cache, not the binary,
    answers the next session (shown by a cache entry that only the cache could know)."""
    from pytest_cloudstack.local.interpreter import _own_interpreter
    from pytest_cloudstack.paths import cache_home, read_cached_json, write_cached_json

    root = tmp_path / "pyenv"
    host = Path(sys.executable).resolve()
    binary = _fake_pyenv(root, "3.98.0", str(host))
    monkeypatch.setenv("PYENV_ROOT", str(root))
    assert interpreter_for((3, 98)) == sys.executable, "the host binary says it is not 3.98"
    known = read_cached_json(cache_home() / "interpreters.json")
    (key,) = [k for k in known if k.startswith(f"{host}|")]
    assert known[key] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    write_cached_json(cache_home() / "interpreters.json", {key: "3.98"})  # as if it had said so
    _own_interpreter.cache_clear()
    assert interpreter_for((3, 98)) == str(binary), "answered from the cache, not by running it"

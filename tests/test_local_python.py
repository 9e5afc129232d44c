"""The right Python for a function: on ``local`` its dependencies are built for the interpreter
that runs it (this host's), and the deploy lines say which Python that is; aws and endpoint
targets keep building for the declared runtime, which is what runs the code there."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import MotoServer

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
PYDANTIC = "pydantic==2.10.6"  # wheels for cp39 and for the host: a compiled dependency

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Validate:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.9
      Handler: app.handler
      CodeUri: fn/
"""

HANDLER = """\
import pydantic


class Order(pydantic.BaseModel):
    id: str
    total: int


def handler(event, context):
    return Order(**event).model_dump()
"""

TEST = """\
def test_validates(validate):
    assert validate.invoke({"id": "o-1", "total": "42"}) == {"id": "o-1", "total": 42}
"""


@pytest.fixture(scope="session")
def pydantic_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pydantic and its compiled core for the host and for Lambda's python3.9, from PyPI once."""
    folder = tmp_path_factory.mktemp("pydantic-wheels")
    base = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
    base += ["--dest", str(folder), PYDANTIC]
    lambda39 = ["--implementation", "cp", "--python-version", "3.9", "--abi", "cp39"]
    lambda39 += ["--abi", "abi3", "--abi", "none", "--platform", "manylinux2014_x86_64"]
    for command in (base, [*base, *lambda39]):
        for _ in range(2):
            if subprocess.run(command, capture_output=True, check=False, timeout=300).returncode:
                continue
            break
    assert len(list(folder.glob("pydantic_core-*.whl"))) == 2, "could not download from PyPI"
    return folder


@pytest.fixture
def python39_project(
    pytester: pytest.Pytester, pydantic_wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(pydantic_wheels))
    pytester.makefile(".yaml", template=TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = py39\n")
    (pytester.path / "fn").mkdir()
    (pytester.path / "fn" / "app.py").write_text(HANDLER)
    (pytester.path / "fn" / "requirements.txt").write_text(PYDANTIC + "\n")
    pytester.makepyfile(test_validate=TEST)
    return pytester


@pytest.mark.skipif(sys.version_info[:2] == (3, 9), reason="the host is python3.9 itself")
def test_a_python39_function_with_a_compiled_dependency_runs_on_local(
    python39_project: pytest.Pytester,
) -> None:
    result = python39_project.runpytest("--cloud-stack=local")
    result.assert_outcomes(passed=1)
    note = (
        f"cloudstack: python3.9 functions run on this host's Python {HOST} on the local target "
        "(their requirements.txt is built for it)"
    )
    assert result.outlines.count(note) == 1, result.outlines


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


NEWER = f"python3.{sys.version_info[1] + 1}"


def test_a_runtime_newer_than_the_host_is_said(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        template=f"""\
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {{Version: "2012-10-17", Statement: []}}
  Newer:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: {NEWER}
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          import sys
          def handler(event, context):
              return list(sys.version_info[:2])
  Same:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python{HOST}
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          def handler(event, context):
              return "same"
""",
    )
    pytester.makeini("[pytest]\ncloud_stack_prefix = newer\n")
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
            f"older than their runtime: code that needs {NEWER} fails here and not on Lambda*"
        ]
    )
    assert f"python{HOST} functions run" not in result.stdout.str(), "the host's own: no note"

"""Suites written for ``sam deploy``: they read the stack by name, never ask for a fixture.

Such a suite reads ``AWS_SAM_STACK_NAME``, calls ``describe_stacks`` (at import time or in
``setUpClass``) and uses plain boto3 clients in ``unittest.TestCase`` classes. With ini
``cloud_stack_env`` (or ``cloud_stack_autouse``) it runs unchanged: the stack is deployed before
its modules are imported.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, MotoServer
from templates import ROLE, TABLE, python_function

GREETER = python_function(
    "Greeter",
    """
    def handler(event, context):
        print(f"greeting {event['name']}")
        return {"greeting": f"hello {event['name']}"}
    """,
)

TEMPLATE = f"""\
Resources:
{ROLE}
{GREETER}
{TABLE}
Outputs:
  GreeterName:
    Value: !Ref Greeter
  TableName:
    Value: !Ref Table
"""

# What `sam init` projects' integration tests look like: the stack by name, outputs from
# describe_stacks, plain clients, unittest. Nothing of the plugin in sight.
SAM_STYLE_SUITE = """\
import json
import os
from unittest import TestCase

import boto3

STACK_NAME = os.environ["AWS_SAM_STACK_NAME"]
# At import time, as some suites do: the stack must exist before collection.
OUTPUTS = {
    output["OutputKey"]: output["OutputValue"]
    for output in boto3.client("cloudformation").describe_stacks(StackName=STACK_NAME)[
        "Stacks"
    ][0]["Outputs"]
}


class TestGreeter(TestCase):
    @classmethod
    def setUpClass(cls):
        stacks = boto3.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
        cls.outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}
        cls.lambda_client = boto3.client("lambda")

    def test_greets(self):
        answer = self.lambda_client.invoke(
            FunctionName=self.outputs["GreeterName"], Payload=json.dumps({"name": "ada"})
        )
        self.assertEqual(json.loads(answer["Payload"].read()), {"greeting": "hello ada"})

    def test_outputs_read_at_import(self):
        self.assertEqual(OUTPUTS, self.outputs)


class TestTable(TestCase):
    @classmethod
    def setUpClass(cls):
        stacks = boto3.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
        name = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}["TableName"]
        cls.table = boto3.resource("dynamodb").Table(name)

    def test_round_trip(self):
        self.table.put_item(Item={"id": "1", "v": "x"})
        self.assertEqual(self.table.get_item(Key={"id": "1"})["Item"], {"id": "1", "v": "x"})
"""


def sam_project(pytester: pytest.Pytester, *ini_lines: str) -> pytest.Pytester:
    pytester.makefile(".yaml", template=TEMPLATE)
    pytester.makeini("\n".join(["[pytest]", "cloud_stack_prefix = suite", *ini_lines]) + "\n")
    pytester.mkdir("tests")
    pytester.mkdir("tests/integration")
    pytester.mkdir("tests/unit")
    (pytester.path / "tests" / "integration" / "test_api.py").write_text(SAM_STYLE_SUITE)
    (pytester.path / "tests" / "unit" / "test_handler.py").write_text(
        "def test_pure():\n    assert 1 + 1 == 2\n"
    )
    return pytester


@pytest.fixture
def sam_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return sam_project(pytester, "cloud_stack_env = AWS_SAM_STACK_NAME")


def test_a_suite_that_reads_the_stack_by_name_runs_unchanged(sam_suite: pytest.Pytester) -> None:
    result = sam_suite.runpytest("tests/integration", "--cloud-stack=local")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "cloudstack: deploying before collection, every test needs the stack "
            "(the suite reads it as AWS_SAM_STACK_NAME)",
            "*stack suite-main-* created in *",
            "*collected 3 items*",
        ]
    )
    result.stdout.fnmatch_lines(["*stack suite-main-* deleted in *"])


def test_on_an_endpoint_too(sam_suite: pytest.Pytester, moto: MotoServer) -> None:
    result = sam_suite.runpytest(
        "tests/integration", f"--cloud-stack={moto.url}", "-k", "not test_greets"
    )
    result.assert_outcomes(passed=2, deselected=1)
    assert moto.live_stacks() == {}, "deleted at the end"


def test_under_xdist_workers_see_the_name(sam_suite: pytest.Pytester) -> None:
    result = sam_suite.runpytest_subprocess("tests", "--cloud-stack=local", "-n", "2")
    result.assert_outcomes(passed=4)


def test_unit_tests_without_the_ini_switch_deploy_nothing(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    sam_project(pytester)
    result = pytester.runpytest("tests/unit", f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*not deployed: no selected test needed the stack*"])
    assert moto.client("cloudformation").describe_stacks()["Stacks"] == []


def test_autouse_false_turns_the_eager_deploy_off(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    sam_project(pytester, "cloud_stack_env = AWS_SAM_STACK_NAME", "cloud_stack_autouse = false")
    result = pytester.runpytest("tests/unit", f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1)
    assert moto.client("cloudformation").describe_stacks()["Stacks"] == []


def test_autouse_true_without_env_names(pytester: pytest.Pytester, moto: MotoServer) -> None:
    """The explicit switch: a suite that reads the stack under a name of its own choosing."""
    sam_project(pytester, "cloud_stack_autouse = true")
    pytester.makepyfile(
        test_status="""
        import boto3

        STATUS = boto3.client("cloudformation").describe_stacks(StackName="suite-explicit")[
            "Stacks"
        ][0]["StackStatus"]

        def test_created():
            assert STATUS == "CREATE_COMPLETE"
        """
    )
    result = pytester.runpytest(
        "test_status.py", f"--cloud-stack={moto.url}", "--cloud-stack-name=suite-explicit"
    )
    result.assert_outcomes(passed=1)


def test_without_the_flag_nothing_is_skipped_or_deployed(sam_suite: pytest.Pytester) -> None:
    result = sam_suite.runpytest("tests/unit")
    result.assert_outcomes(passed=1)


def test_a_bad_autouse_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    sam_project(pytester, "cloud_stack_autouse = sometimes")
    result = pytester.runpytest("tests/unit", "--cloud-stack=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*invalid value 'sometimes' for ini cloud_stack_autouse: use true or false*"]
    )


BROKEN_TEMPLATE = f"""\
Parameters:
  Stage:
    Type: String
Resources:
{TABLE}
"""


def test_a_failed_deploy_errors_each_test_with_the_reason(sam_suite: pytest.Pytester) -> None:
    """Import-time reads and setUpClass never see "Stack ... does not exist" as the cause."""
    sam_suite.makefile(".yaml", template=BROKEN_TEMPLATE)
    (sam_suite.path / "tests" / "integration" / "test_late.py").write_text(
        "import os\n"
        "from unittest import TestCase\n\n"
        "class TestLate(TestCase):\n"
        "    @classmethod\n"
        "    def setUpClass(cls):\n"
        "        raise RuntimeError('setUpClass must not run')\n\n"
        "    def test_one(self):\n"
        "        pass\n"
    )
    late = sam_suite.runpytest("tests/integration/test_late.py", "--cloud-stack=local")
    late.assert_outcomes(errors=1)
    late.stdout.fnmatch_lines(
        ["*ERROR at setup of TestLate.test_one*", "cloud stack not available: *'Stage'*"]
    )
    at_import = sam_suite.runpytest("tests/integration/test_api.py", "--cloud-stack=local")
    at_import.assert_outcomes(errors=1)
    at_import.stdout.fnmatch_lines(
        [
            "*ERROR collecting tests/integration/test_api.py*",
            "cloud stack not available: *'Stage' has no value*",
            "(importing tests/integration/test_api.py failed as a consequence: *does not exist)",
        ]
    )
    for result in (late, at_import):
        output = result.stdout.str()
        assert "setUpClass must not run" not in output
        assert "Traceback" not in output


def test_under_xdist_a_failed_deploy_errors_each_test_too(sam_suite: pytest.Pytester) -> None:
    sam_suite.makefile(".yaml", template=BROKEN_TEMPLATE)
    (sam_suite.path / "tests" / "integration" / "test_api.py").write_text(
        "from unittest import TestCase\n\n"
        "class TestOne(TestCase):\n"
        "    def test_a(self):\n        pass\n\n"
        "    def test_b(self):\n        pass\n"
    )
    result = sam_suite.runpytest_subprocess("tests/integration", "--cloud-stack=local", "-n", "2")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*cloud stack not available: *'Stage' has no value*"])


FAILING_TESTCASE = """\
import json
import os
from unittest import TestCase

import boto3


class TestGreeter(TestCase):
    @classmethod
    def setUpClass(cls):
        stacks = boto3.client("cloudformation").describe_stacks(
            StackName=os.environ["AWS_SAM_STACK_NAME"]
        )["Stacks"]
        cls.function = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}[
            "GreeterName"
        ]

    def test_wrong_expectation(self):
        answer = boto3.client("lambda").invoke(
            FunctionName=self.function, Payload=json.dumps({"name": "grace"})
        )
        self.assertEqual(json.loads(answer["Payload"].read()), {"greeting": "bye"})

    def test_fine(self):
        boto3.client("lambda").invoke(
            FunctionName=self.function, Payload=json.dumps({"name": "quiet"})
        )
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_a_failing_testcase_gets_the_lambda_logs(
    sam_suite: pytest.Pytester, workers: list[str]
) -> None:
    (sam_suite.path / "tests" / "integration" / "test_api.py").write_text(FAILING_TESTCASE)
    result = sam_suite.runpytest_subprocess("tests/integration", "--cloud-stack=local", *workers)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TestGreeter.test_wrong_expectation*",
            "*Captured Lambda logs*",
            "[[]suite-main-*Greeter*] greeting grace",
        ]
    )
    assert result.stdout.str().count("Captured Lambda logs") == 1


# -- examples/guestbook: a `sam init`-style project with its own suite --------------------------

GUESTBOOK = REPO / "examples" / "guestbook"
GUESTBOOK_TESTS = 12  # 8 unit, 4 integration
DATEUTIL = "python-dateutil==2.9.0.post0"


def test_the_guestbook_adds_only_the_env_line_to_its_ini() -> None:
    lines = (GUESTBOOK / "pytest.ini").read_text().splitlines()
    settings = [line for line in lines if line.strip() and not line.startswith("#")]
    assert settings == ["[pytest]", "cloud_stack_env = AWS_SAM_STACK_NAME"]
    suite = "".join(p.read_text() for p in (GUESTBOOK / "tests").rglob("*.py"))
    assert "cloudstack" not in suite and "cloud_stack" not in suite, "the suite is unchanged"


@pytest.fixture(scope="session")
def guestbook_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The function's dependency (and its own), downloaded from PyPI once per session."""
    folder = tmp_path_factory.mktemp("guestbook-wheels")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
    command += ["--dest", str(folder), DATEUTIL]
    for _ in range(2):
        if subprocess.run(command, capture_output=True, check=False, timeout=120).returncode == 0:
            break
    assert list(folder.glob("python_dateutil-*.whl")), "could not download from PyPI"
    return folder


@pytest.fixture
def guestbook(
    pytester: pytest.Pytester, guestbook_wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A copy of examples/guestbook; pip installs its requirements.txt from the wheelhouse."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(guestbook_wheels))
    shutil.copytree(
        GUESTBOOK,
        pytester.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"),
    )
    return pytester


# In a subprocess: the example's `tests` package must not meet this suite's own `tests`.


def test_the_guestbook_suite_passes_on_local(guestbook: pytest.Pytester) -> None:
    result = guestbook.runpytest_subprocess("--cloud-stack=local")
    result.assert_outcomes(passed=GUESTBOOK_TESTS)
    result.stdout.fnmatch_lines(
        ["cloudstack: python3.9 functions run on this host's Python *", "*deleted in*"]
    )


def test_the_guestbook_suite_passes_under_xdist(guestbook: pytest.Pytester) -> None:
    result = guestbook.runpytest_subprocess("--cloud-stack=local", "-n", "2")
    result.assert_outcomes(passed=GUESTBOOK_TESTS)


@pytest.fixture
def lambda_endpoint() -> Iterator[str]:
    """An endpoint that runs Lambda handlers, as LocalStack does: the emulator, on its own.

    moto_server alone answers Invoke with an error (it needs Docker), so the suite's Lambda
    tests could not pass there.
    """
    from pytest_cloudstack.local.process import EmulatorProcess

    with EmulatorProcess() as emulator:
        emulator.wait_ready()
        yield emulator.url


def test_the_guestbook_suite_passes_on_an_endpoint(
    guestbook: pytest.Pytester, lambda_endpoint: str
) -> None:
    result = guestbook.runpytest_subprocess(f"--cloud-stack={lambda_endpoint}")
    result.assert_outcomes(passed=GUESTBOOK_TESTS)
    result.stdout.fnmatch_lines([f"cloudstack: target {lambda_endpoint}, *", "*deleted in*"])

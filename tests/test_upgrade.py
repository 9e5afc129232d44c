"""The upgrade path: deploy the project at a git REF, update it to the working tree, refuse data loss.

Each test makes a real git repository (main + a change in the working tree) and runs
``pytest --cloud-stack --cloud-stack-upgrade-from=main`` from the outside, then looks at what
exists on the server.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import MotoServer

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: {key}, AttributeType: S}}]
      KeySchema: [{{AttributeName: {key}, KeyType: HASH}}]
{extra}Outputs:
  TableName:
    Value: !Ref Orders
"""

ARCHIVE = """\
  Archive:
    Type: AWS::SQS::Queue
"""

SEED_AND_CHECK = """\
import pytest

seeded = []


def pytest_cloudstack_before_upgrade(stack, ref):
    stack.table("Orders").put({"id": "made-at-" + ref})
    seeded.append(ref)
"""

TESTS = """\
def test_data_made_before_the_upgrade_survives(cloud_stack):
    assert cloud_stack.table("Orders").get({"id": "made-at-main"}) is not None


def test_the_new_resource_exists(cloud_stack):
    assert "Archive" in cloud_stack.resources
"""


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def _repository(pytester: pytest.Pytester, ini: str = "") -> Path:
    """A git repo whose main holds the table keyed by ``id``; the tests live in the tree."""
    root = pytester.path
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "dev@example.com")
    _git(root, "config", "user.name", "dev")
    pytester.makefile(".yaml", template=TEMPLATE.format(key="id", extra=""))
    pytester.makeini(f"[pytest]\ncloud_stack_prefix = upgrade\n{ini}")
    pytester.makeconftest(SEED_AND_CHECK)
    pytester.makepyfile(test_upgrade=TESTS)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "main")
    return root


def test_a_key_schema_change_is_refused_before_anything_is_created(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    _repository(pytester)
    pytester.makefile(".yaml", template=TEMPLATE.format(key="pk", extra=""))
    result = pytester.runpytest_subprocess(
        f"--cloud-stack={moto.url}", "--cloud-stack-upgrade-from=main"
    )
    result.assert_outcomes(errors=2)
    output = result.stdout.str()
    assert (
        "the upgrade from main would destroy data: 1 stateful resource(s) replaced or "
        "deleted; the stack was not updated:\n"
        "  - Orders (AWS::DynamoDB::Table) would be replaced: KeySchema changes from "
        '[{"AttributeName": "id", "KeyType": "HASH"}] to '
        '[{"AttributeName": "pk", "KeyType": "HASH"}]'
    ) in output
    result.stdout.no_fnmatch_line("*Traceback*")
    assert moto.live_stacks() == {}


@pytest.mark.parametrize("target", ["endpoint", "local"])
def test_an_added_resource_upgrades_and_the_seeded_data_survives(
    pytester: pytest.Pytester, moto: MotoServer, target: str
) -> None:
    _repository(pytester)
    pytester.makefile(".yaml", template=TEMPLATE.format(key="id", extra=ARCHIVE))
    where = moto.url if target == "endpoint" else "local"
    result = pytester.runpytest_subprocess(
        f"--cloud-stack={where}", "--cloud-stack-upgrade-from=main"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*upgrade from main (*): no resource is replaced or deleted",
            "*stack upgrade-main-* created from main in *",
            "*updating stack upgrade-main-* to the working tree",
            "*stack upgrade-main-* updated in *",
        ]
    )
    assert moto.live_stacks() == {}


def test_an_allowed_replacement_goes_ahead(pytester: pytest.Pytester, moto: MotoServer) -> None:
    _repository(pytester, "cloud_stack_allow_destroy = Orders\n")
    renamed = TEMPLATE.format(key="id", extra=ARCHIVE).replace(
        "      BillingMode", "      TableName: orders-v2\n      BillingMode"
    )
    pytester.makefile(".yaml", template=renamed)
    result = pytester.runpytest_subprocess(
        f"--cloud-stack={moto.url}", "--cloud-stack-upgrade-from=main"
    )
    result.stdout.fnmatch_lines(
        [
            '*Orders (AWS::DynamoDB::Table) would be replaced: TableName changes from (none) to "orders-v2" [[]allowed[]]'
        ]
    )
    result.stdout.no_fnmatch_line("*would destroy data*")
    # The replaced table is new and empty: the seeded item is gone, as the check said.
    result.assert_outcomes(passed=1, failed=1)
    assert moto.live_stacks() == {}


def test_a_retained_resource_may_be_replaced(pytester: pytest.Pytester, moto: MotoServer) -> None:
    _repository(pytester)
    template = TEMPLATE.format(key="id", extra="").replace(
        "    Type: AWS::DynamoDB::Table\n",
        "    Type: AWS::DynamoDB::Table\n    UpdateReplacePolicy: Retain\n",
    )
    pytester.makefile(".yaml", template=template)
    _git(pytester.path, "commit", "-q", "-am", "retain the table")
    pytester.makefile(".yaml", template=template.replace(": id", ": pk"))
    result = pytester.runpytest_subprocess(
        f"--cloud-stack={moto.url}", "--cloud-stack-upgrade-from=main", "--cloud-stack-plan"
    )
    result.stdout.fnmatch_lines(
        ["*Orders (AWS::DynamoDB::Table) would be replaced: KeySchema*[[]allowed[]]"]
    )
    assert moto.live_stacks() == {}


def test_a_deleted_stateful_resource_is_refused(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    _repository(pytester)
    only_archive = 'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n' + ARCHIVE
    pytester.makefile(".yaml", template=only_archive)
    result = pytester.runpytest_subprocess(
        f"--cloud-stack={moto.url}", "--cloud-stack-upgrade-from=main"
    )
    result.stdout.fnmatch_lines(
        [
            "*the upgrade from main would destroy data*",
            "*Orders (AWS::DynamoDB::Table) would be deleted",
        ]
    )
    assert moto.live_stacks() == {}


def test_plan_shows_the_check_and_deploys_nothing(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    _repository(pytester)
    pytester.makefile(".yaml", template=TEMPLATE.format(key="pk", extra=ARCHIVE))
    result = pytester.runpytest_subprocess(
        f"--cloud-stack={moto.url}", "--cloud-stack-upgrade-from=main", "--cloud-stack-plan"
    )
    result.stdout.fnmatch_lines(
        [
            "*upgrade from main (*): 1 resource(s) replaced or deleted:",
            "*Orders (AWS::DynamoDB::Table) would be replaced: KeySchema*[[]BLOCKED, stateful[]]",
        ]
    )
    assert moto.live_stacks() == {}


def test_an_unknown_ref_is_a_usage_error(pytester: pytest.Pytester, moto: MotoServer) -> None:
    _repository(pytester)
    result = pytester.runpytest_subprocess(
        f"--cloud-stack={moto.url}", "--cloud-stack-upgrade-from=no-such-branch"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--cloud-stack-upgrade-from 'no-such-branch': git does not know this revision*"]
    )
    assert moto.live_stacks() == {}


def test_upgrade_and_reuse_together_are_a_usage_error(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    _repository(pytester)
    result = pytester.runpytest_subprocess(
        f"--cloud-stack={moto.url}", "--cloud-stack-upgrade-from=main", "--cloud-stack-reuse"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot adopt an existing stack (--cloud-stack-reuse)*"])


def test_a_template_new_on_this_branch_has_nothing_to_check(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    root = pytester.path
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "dev@example.com")
    _git(root, "config", "user.name", "dev")
    _git(root, "commit", "-q", "--allow-empty", "-m", "empty main")
    pytester.makefile(".yaml", template=TEMPLATE.format(key="id", extra=ARCHIVE))
    pytester.makeini("[pytest]\ncloud_stack_prefix = upgrade\n")
    pytester.makepyfile(test_new="def test_it(cloud_stack):\n    assert cloud_stack.name\n")
    result = pytester.runpytest_subprocess(
        f"--cloud-stack={moto.url}", "--cloud-stack-upgrade-from=main"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*upgrade from main: the template does not exist there; nothing to check"]
    )
    assert moto.live_stacks() == {}


# On AWS the change set's own Replacement verdict is read too: here CloudFormation says the
# table is replaced although no create-only property changed (a replacement the schemas can't
# predict), injected into the real DescribeChangeSet answer at the botocore layer.
SERVICE_SAYS_REPLACE = """\
def pytest_cloudstack_boto_session(session):
    def replace_orders(parsed, **kwargs):
        changes = parsed.setdefault("Changes", [])
        changes[:] = [
            c for c in changes if c.get("ResourceChange", {}).get("LogicalResourceId") != "Orders"
        ]
        changes.append(
            {
                "Type": "Resource",
                "ResourceChange": {
                    "Action": "Modify",
                    "LogicalResourceId": "Orders",
                    "ResourceType": "AWS::DynamoDB::Table",
                    "Replacement": "True",
                    "Scope": ["Properties"],
                },
            }
        )

    session.events.register("after-call.cloudformation.DescribeChangeSet", replace_orders)
"""


def test_on_aws_the_change_set_replacement_is_cross_checked(
    pytester: pytest.Pytester, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The aws code path, pointed at moto_server through boto3's own AWS_ENDPOINT_URL.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    _repository(pytester)
    pytester.makeconftest(SEED_AND_CHECK + "\n\n" + SERVICE_SAYS_REPLACE)
    pytester.makefile(".yaml", template=TEMPLATE.format(key="id", extra=ARCHIVE))
    result = pytester.runpytest_subprocess("--cloud-stack=aws", "--cloud-stack-upgrade-from=main")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*upgrade from main (*): no resource is replaced or deleted",
            "*plan for stack upgrade-main-* (update):",
            "*the upgrade from main would destroy data*",
            "*Orders (AWS::DynamoDB::Table) would be replaced: (CloudFormation's change set)",
        ]
    )
    # REF's stack was created, then deleted at the end of the session; the update never ran.
    assert moto.live_stacks() == {}

"""Resource fixtures: the factories, nested-stack IDs, the error messages, generated fixtures.

Deploying tests run on an external ``moto_server`` (endpoint target); the generated fixtures'
names, docs and skips are checked without any deploy, as ``pytest --fixtures`` and plain
``pytest`` see them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import MotoServer

pytestmark = pytest.mark.filterwarnings("error")

# Child and grandchild templates live in the emulator's S3, as nested stacks' templates do.
CHILD = {
    "Resources": {
        "Inner": {"Type": "AWS::SQS::Queue"},
        "Grand": {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {"TemplateURL": "https://s3.amazonaws.com/nested-templates/grand.json"},
        },
    }
}
GRAND = {
    "Resources": {
        "Deep": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            },
        }
    }
}

PARENT = """\
AWSTemplateFormatVersion: 2010-09-09
Resources:
  OrdersTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  OrdersQueue:
    Type: AWS::SQS::Queue
  ReceiptsBucket:
    Type: AWS::S3::Bucket
  Alerts:
    Type: AWS::SNS::Topic
  Child:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://s3.amazonaws.com/nested-templates/child.json
Outputs:
  QueueUrl:
    Value: !Ref OrdersQueue
  TableName:
    Value: !Ref OrdersTable
  AlertsArn:
    Value: !Ref Alerts
  Region:
    Value: !Ref AWS::Region
"""


@pytest.fixture
def nested(moto: MotoServer, pytester: pytest.Pytester) -> pytest.Pytester:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="nested-templates")
    s3.put_object(Bucket="nested-templates", Key="child.json", Body=json.dumps(CHILD))
    s3.put_object(Bucket="nested-templates", Key="grand.json", Body=json.dumps(GRAND))
    pytester.makefile(".yaml", template=PARENT)
    pytester.makeini("[pytest]\ncloud_stack_prefix = fix\n")
    return pytester


def test_factories_resolve_logical_ids_outputs_and_nested_ids(
    moto: MotoServer, nested: pytest.Pytester
) -> None:
    nested.makepyfile(
        """
        from pytest_cloudstack import Bucket, Queue, Table, Topic

        def test_logical_ids(cloud_stack, dynamodb_table, sqs_queue, s3_bucket, sns_topic):
            table = dynamodb_table("OrdersTable")
            assert isinstance(table, Table)
            assert table.name == cloud_stack.resources["OrdersTable"].physical_id
            assert isinstance(sqs_queue("OrdersQueue"), Queue)
            assert isinstance(s3_bucket("ReceiptsBucket"), Bucket)
            assert isinstance(sns_topic("Alerts"), Topic)
            assert table is cloud_stack.table("OrdersTable")

        def test_outputs(cloud_stack, dynamodb_table, sqs_queue, sns_topic):
            assert dynamodb_table("TableName").name == cloud_stack.outputs["TableName"]
            assert sqs_queue("QueueUrl").url == cloud_stack.outputs["QueueUrl"]
            assert sns_topic("AlertsArn").arn == cloud_stack.resources["Alerts"].physical_id

        def test_nested_stacks(cloud_stack, dynamodb_table, sqs_queue):
            resources = cloud_stack.resources
            assert resources["Child"].type == "AWS::CloudFormation::Stack"
            assert resources["Child/Inner"].type == "AWS::SQS::Queue"
            assert resources["Child/Grand/Deep"].type == "AWS::DynamoDB::Table"
            inner = sqs_queue("Child/Inner")
            assert inner.url == resources["Child/Inner"].physical_id
            inner.send("hello")
            deep = dynamodb_table("Child/Grand/Deep")
            deep.put({"id": "d"})
            assert deep.get({"id": "d"}) == {"id": "d"}
        """
    )
    result = nested.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    result.assert_outcomes(passed=3)
    # what the nested handles did, seen on the server
    sqs = moto.client("sqs")
    inner = next(u for u in sqs.list_queues()["QueueUrls"] if "-Inner-" in u)
    assert sqs.receive_message(QueueUrl=inner)["Messages"][0]["Body"] == "hello"
    dynamodb = moto.client("dynamodb")
    deep = next(t for t in dynamodb.list_tables()["TableNames"] if "-Deep-" in t)
    assert dynamodb.get_item(TableName=deep, Key={"id": {"S": "d"}})["Item"] == {"id": {"S": "d"}}


def test_unknown_ids_and_wrong_types_say_what_exists(
    moto: MotoServer, nested: pytest.Pytester
) -> None:
    nested.makepyfile(
        """
        import pytest
        from pytest_cloudstack import UnknownResourceError, WrongResourceTypeError

        def test_unknown(cloud_stack):
            with pytest.raises(UnknownResourceError) as raised:
                cloud_stack.table("OrdersTabel")
            assert isinstance(raised.value, KeyError)
            print("UNKNOWN:", raised.value)

        def test_wrong_type(sqs_queue):
            with pytest.raises(WrongResourceTypeError) as raised:
                sqs_queue("OrdersTable")
            assert isinstance(raised.value, TypeError)
            print("WRONG:", raised.value)

        def test_wrong_type_nested(cloud_stack):
            with pytest.raises(WrongResourceTypeError) as raised:
                cloud_stack.function("Child/Grand/Deep")
            print("NESTED:", raised.value)

        def test_output_of_the_wrong_type(cloud_stack):
            with pytest.raises(WrongResourceTypeError) as raised:
                cloud_stack.bucket("QueueUrl")
            print("OUTPUT:", raised.value)

        def test_unsupported_type(cloud_stack):
            with pytest.raises(WrongResourceTypeError) as raised:
                cloud_stack.queue("Child")
            print("NESTED STACK:", raised.value)
        """
    )
    result = nested.runpytest(f"--cloud-stack={moto.url}", "-s")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "UNKNOWN: stack fix-main-* has no resource or output 'OrdersTabel' "
            "(did you mean 'OrdersTable'?)",
            "  DynamoDB tables in the stack: Child/Grand/Deep, OrdersTable",
            "  all resources: Alerts (AWS::SNS::Topic), Child (AWS::CloudFormation::Stack), "
            "Child/Grand (AWS::CloudFormation::Stack), Child/Grand/Deep (AWS::DynamoDB::Table), "
            "Child/Inner (AWS::SQS::Queue), OrdersQueue (AWS::SQS::Queue), OrdersTable "
            "(AWS::DynamoDB::Table), ReceiptsBucket (AWS::S3::Bucket)",
            "  outputs: AlertsArn, QueueUrl, Region, TableName",
            "*WRONG: 'OrdersTable' in stack fix-main-* is an AWS::DynamoDB::Table, not an SQS "
            "queue (AWS::SQS::Queue); use cloud_stack.table('OrdersTable')",
            "  SQS queues in the stack: Child/Inner, OrdersQueue",
            "*NESTED: 'Child/Grand/Deep' in stack fix-main-* is an AWS::DynamoDB::Table, not a "
            "Lambda function (AWS::Lambda::Function, AWS::Serverless::Function); use "
            "cloud_stack.table('Child/Grand/Deep')",
            "  Lambda functions in the stack: none",
            "*OUTPUT: output 'QueueUrl' of stack fix-main-* is the physical ID of 'OrdersQueue', an "
            "AWS::SQS::Queue, not an S3 bucket (AWS::S3::Bucket)",
            "*NESTED STACK: 'Child' in stack fix-main-* is an AWS::CloudFormation::Stack, not an SQS "
            "queue (AWS::SQS::Queue)",
        ]
    )


# -- generated fixtures -------------------------------------------------------------------------

NAMING_TEMPLATE = """\
Resources:
  OrdersTable:
    Type: AWS::DynamoDB::Table
  ProcessOrderFunction:
    Type: AWS::Lambda::Function
  MyDLQQueue:
    Type: AWS::SQS::Queue
  ReceiptsBucket:
    Type: AWS::S3::Bucket
  OrderEvents:
    Type: AWS::SNS::Topic
  CheckoutFlow:
    Type: AWS::StepFunctions::StateMachine
  ProcessOrderRole:
    Type: AWS::IAM::Role
  S3Bucket:
    Type: AWS::S3::Bucket
  TmpPath:
    Type: AWS::SQS::Queue
  Lambda:
    Type: AWS::Lambda::Function
  Request:
    Type: AWS::SNS::Topic
  OrdersQueue:
    Type: AWS::SQS::Queue
  AuditLog:
    Type: AWS::DynamoDB::Table
  AUDITLog:
    Type: AWS::DynamoDB::Table
"""


@pytest.fixture
def naming(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", template=NAMING_TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = naming\n")
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def orders_queue():
            "The project's own orders_queue."
            return "mine"
        """
    )
    return pytester


def test_generated_fixtures_are_listed_with_logical_id_and_type(naming: pytest.Pytester) -> None:
    result = naming.runpytest("--fixtures")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "orders_table [[]session scope[]] -- *fixtures.py:*",
            "    OrdersTable (AWS::DynamoDB::Table) of the deployed stack, as a ``Table`` handle "
            "(generated from the template's logical ID OrdersTable; same as "
            "``cloud_stack.table('OrdersTable')``).",
        ],
        consecutive=True,
    )
    output = result.stdout.str()
    for name, logical_id, kind in [
        ("process_order_function", "ProcessOrderFunction", "AWS::Lambda::Function"),
        ("my_dlq_queue", "MyDLQQueue", "AWS::SQS::Queue"),
        ("receipts_bucket", "ReceiptsBucket", "AWS::S3::Bucket"),
        ("order_events", "OrderEvents", "AWS::SNS::Topic"),
        ("checkout_flow", "CheckoutFlow", "AWS::StepFunctions::StateMachine"),
    ]:
        assert f"\n{name} [session scope]" in output
        assert f"    {logical_id} ({kind}) of the deployed stack" in output
    # unsupported types get none
    assert "process_order_role" not in output


def test_names_that_would_shadow_a_fixture_are_skipped_and_reported_once(
    naming: pytest.Pytester,
) -> None:
    naming.makepyfile(
        """
        def test_builtin_is_untouched(tmp_path, s3_bucket, orders_queue):
            assert tmp_path.is_dir()
            assert callable(s3_bucket)  # the factory, not the S3Bucket resource
            assert orders_queue == "mine"
        """
    )
    result = naming.runpytest("-o", "cloud_stack_required=false", "-rs")
    result.assert_outcomes(skipped=1)  # s3_bucket needs the stack
    output = result.stdout.str()
    assert output.count("fixtures not generated") == 1
    line = next(line for line in output.splitlines() if "fixtures not generated" in line)
    assert line == (
        "cloudstack: fixtures not generated: s3_bucket for S3Bucket (already a fixture in "
        "plugin cloudstack); tmp_path for TmpPath (already a fixture in plugin tmpdir); "
        "lambda for Lambda (not a valid Python name); request for Request (already a fixture "
        "in pytest (the request object)); orders_queue for OrdersQueue (already a fixture in "
        "conftest.py); audit_log for AuditLog (AuditLog and AUDITLog have the same name); "
        "audit_log for AUDITLog (AuditLog and AUDITLog have the same name)"
    )


def test_tests_using_generated_fixtures_are_skipped_without_the_flag(
    naming: pytest.Pytester,
) -> None:
    naming.makepyfile(
        """
        import pytest

        def test_table(orders_table):
            pass

        def test_plain():
            pass
        """
    )
    result = naming.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] *: needs --cloud-stack"])
    # and they carry the cloud_stack marker, for -m selection
    deselected = naming.runpytest("-m", "not cloud_stack")
    deselected.assert_outcomes(passed=1, deselected=1)


def test_opting_out_generates_nothing(naming: pytest.Pytester) -> None:
    naming.makepyfile("def test_table(orders_table):\n    pass\n")
    result = naming.runpytest("-o", "cloud_stack_auto_fixtures=false")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'orders_table' not found*"])
    assert "fixtures not generated" not in result.stdout.str()


def test_a_broken_template_generates_nothing_and_the_deploy_says_why(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", template="Resources:\n  OrdersTable:\n    Type: [unclosed\n")
    pytester.makepyfile(
        """
        def test_stack(cloud_stack):
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("--cloud-stack=local")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*cloud stack not available: *template.yaml:3*"])


def test_a_missing_template_generates_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("--fixtures")
    assert result.ret == 0
    assert "of the deployed stack" not in result.stdout.str()


def test_the_template_comes_from_the_settings(pytester: pytest.Pytester) -> None:
    (pytester.path / "infra").mkdir()
    (pytester.path / "infra" / "stack.yaml").write_text(
        "Resources:\n  PaymentsQueue:\n    Type: AWS::SQS::Queue\n"
    )
    pytester.makefile(
        ".json", template=json.dumps({"Resources": {"JsonTable": {"Type": "AWS::DynamoDB::Table"}}})
    )
    # the default at rootdir (template.json here)
    default = pytester.runpytest("--fixtures")
    assert "json_table [session scope]" in default.stdout.str()
    assert "payments_queue" not in default.stdout.str()
    # the ini setting, relative to the ini file
    pytester.makeini("[pytest]\ncloud_stack_template = infra/stack.yaml\n")
    configured = pytester.runpytest("--fixtures")
    assert "payments_queue [session scope]" in configured.stdout.str()
    assert "json_table" not in configured.stdout.str()


def test_an_edited_template_is_read_again(pytester: pytest.Pytester) -> None:
    template = pytester.makefile(
        ".yaml", template="Resources:\n  First:\n    Type: AWS::SQS::Queue\n"
    )
    assert "first [session scope]" in pytester.runpytest("--fixtures").stdout.str()
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "pytest-cloudstack" / "templates"
    assert len(list(cache.glob("*.json"))) == 1
    template.write_text("Resources:\n  Second:\n    Type: AWS::SQS::Queue\n")
    output = pytester.runpytest("--fixtures").stdout.str()
    assert "second [session scope]" in output and "first [session scope]" not in output
    assert len(list(cache.glob("*.json"))) == 2


def test_generated_fixtures_give_the_handles(moto: MotoServer, pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", template=PARENT.split("  Child:")[0])
    pytester.makeini("[pytest]\ncloud_stack_prefix = gen\n")
    pytester.makepyfile(
        """
        from pytest_cloudstack import Bucket, Queue, Table, Topic

        def test_fixtures_read_naturally(orders_queue, orders_table, receipts_bucket, alerts):
            assert isinstance(orders_table, Table) and orders_table.logical_id == "OrdersTable"
            assert isinstance(orders_queue, Queue) and isinstance(receipts_bucket, Bucket)
            assert isinstance(alerts, Topic)
            orders_table.put({"id": "o-1", "status": "NEW"})
            orders_queue.send({"id": "o-1"})

        def test_same_handles_as_the_stack(cloud_stack, orders_table):
            assert orders_table is cloud_stack.table("OrdersTable")
        """
    )
    result = pytester.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    result.assert_outcomes(passed=2)
    dynamodb = moto.client("dynamodb")
    table = next(t for t in dynamodb.list_tables()["TableNames"] if "-OrdersTable-" in t)
    assert dynamodb.get_item(TableName=table, Key={"id": {"S": "o-1"}})["Item"]["status"] == {
        "S": "NEW"
    }


def test_factory_fixture_docs_name_no_example_resource(pytester: pytest.Pytester) -> None:
    """In any project, ``pytest --fixtures`` describes the factories generically."""
    pytester.makefile(".yaml", template="Resources:\n  Inbox:\n    Type: AWS::SQS::Queue\n")
    output = pytester.runpytest("--fixtures").stdout.str()
    for factory in ("dynamodb_table", "sqs_queue", "lambda_function", "s3_bucket", "sns_topic"):
        assert f"Factory: ``{factory}(logical_id)``" in output
    assert not [word for word in ("Orders", "Receipts", "ProcessOrder") if word in output]

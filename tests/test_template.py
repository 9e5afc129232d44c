"""Unit tests of pytest_cloudstack.template: parsing, local checks, parameters, capabilities."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_cloudstack.errors import TemplateError
from pytest_cloudstack.template import (
    ParameterSpec,
    Template,
    find_default_template,
    load_template,
    resolve_parameters,
)

QUEUE = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
"""


def write(tmp_path: Path, text: str, name: str = "template.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, name: str = "template.yaml") -> Template:
    return load_template(write(tmp_path, text, name))


def error(tmp_path: Path, text: str, name: str = "template.yaml") -> TemplateError:
    path = write(tmp_path, text, name)
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert info.value.path == path
    return info.value


# --- short-form tags -------------------------------------------------------------------------

# Every snippet sits at line 11 as Resources/Queue/Metadata/Value; P, C and Queue are defined.
TAGGED = """\
Parameters:
  P:
    Type: String
    Default: x
Conditions:
  C: !Equals [a, b]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Metadata:
      Value: {snippet}
"""


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("!Ref P", {"Ref": "P"}),
        ("!Condition C", {"Condition": "C"}),
        ("!GetAtt Queue.Arn", {"Fn::GetAtt": ["Queue", "Arn"]}),
        ("!GetAtt Queue.Outputs.Url", {"Fn::GetAtt": ["Queue", "Outputs.Url"]}),
        ("!GetAtt [Queue, Arn]", {"Fn::GetAtt": ["Queue", "Arn"]}),
        ('!Sub "${P}-x"', {"Fn::Sub": "${P}-x"}),
        ('!Sub ["a-${v}", {v: 1}]', {"Fn::Sub": ["a-${v}", {"v": 1}]}),
        ("!If [C, a, b]", {"Fn::If": ["C", "a", "b"]}),
        ("!Equals [a, b]", {"Fn::Equals": ["a", "b"]}),
        ("!And [x, y]", {"Fn::And": ["x", "y"]}),
        ("!Or [x, y]", {"Fn::Or": ["x", "y"]}),
        ("!Not [x]", {"Fn::Not": ["x"]}),
        ('!Join [",", [a, b]]', {"Fn::Join": [",", ["a", "b"]]}),
        ("!Select [0, [a, b]]", {"Fn::Select": [0, ["a", "b"]]}),
        ('!Split [",", "a,b"]', {"Fn::Split": [",", "a,b"]}),
        ("!FindInMap [M, k, v]", {"Fn::FindInMap": ["M", "k", "v"]}),
        ("!Base64 hello", {"Fn::Base64": "hello"}),
        ('!Cidr ["10.0.0.0/16", 4, 8]', {"Fn::Cidr": ["10.0.0.0/16", 4, 8]}),
        ("!ImportValue shared-vpc", {"Fn::ImportValue": "shared-vpc"}),
        ('!GetAZs ""', {"Fn::GetAZs": ""}),
        (
            "!Transform {Name: AWS::Include, Parameters: {Location: s3://b/k}}",
            {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}},
        ),
        ("!ToJsonString {a: 1}", {"Fn::ToJsonString": {"a": 1}}),
        ("!Length [a, b]", {"Fn::Length": ["a", "b"]}),
    ],
)
def test_short_form_tag_becomes_long_form(tmp_path: Path, snippet: str, expected: Any) -> None:
    template = load(tmp_path, TAGGED.format(snippet=snippet))
    assert template.body["Resources"]["Queue"]["Metadata"]["Value"] == expected


def test_nested_tags(tmp_path: Path) -> None:
    snippet = '!Join ["", [!Sub "${P}-x", !If [C, !Ref Queue, !Ref AWS::NoValue]]]'
    template = load(tmp_path, TAGGED.format(snippet=snippet))
    assert template.body["Resources"]["Queue"]["Metadata"]["Value"] == {
        "Fn::Join": [
            "",
            [
                {"Fn::Sub": "${P}-x"},
                {"Fn::If": ["C", {"Ref": "Queue"}, {"Ref": "AWS::NoValue"}]},
            ],
        ]
    }


def test_dates_and_equals_sign_stay_strings(tmp_path: Path) -> None:
    template = load(
        tmp_path,
        """\
        AWSTemplateFormatVersion: 2010-09-09
        Parameters:
          Since:
            Type: String
            Default: 2024-01-31
        Resources:
          Queue:
            Type: AWS::SQS::Queue
            Metadata:
              Op: =
        """,
    )
    assert template.body["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template.parameters()["Since"].default == "2024-01-31"
    assert template.body["Resources"]["Queue"]["Metadata"]["Op"] == "="
    assert template.to_json().startswith('{"AWSTemplateFormatVersion":"2010-09-09",')


def test_unknown_tag_names_line_and_known_tags(tmp_path: Path) -> None:
    exc = error(tmp_path, TAGGED.format(snippet="!Reff P"))
    assert exc.line == 11
    assert "unknown tag !Reff; known tags: " in exc.message
    assert "!GetAtt" in exc.message and "!Ref," in exc.message
    assert str(exc).startswith(f"{tmp_path / 'template.yaml'}:11: ")


def test_yaml_only_tags_without_json_form_are_rejected(tmp_path: Path) -> None:
    exc = error(tmp_path, TAGGED.format(snippet="!!binary aGk="))
    assert exc.line == 11
    assert "unknown tag !!binary" in exc.message


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    exc = error(tmp_path, "Resources:\n  Queue:\n    Type: [unclosed\n  Other: x\n")
    assert exc.line is not None and exc.line >= 3
    assert exc.message.startswith("invalid YAML: ")
    assert "column" in exc.message


def test_malformed_yaml_bad_indentation(tmp_path: Path) -> None:
    exc = error(tmp_path, "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n   Bad: x\n")
    assert exc.line == 4
    assert "invalid YAML: " in exc.message


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, QUEUE + "  Queue:\n    Type: AWS::SNS::Topic\n")
    assert (exc.line, exc.message) == (4, "duplicate key 'Queue'")


def test_malformed_json_reports_line(tmp_path: Path) -> None:
    exc = error(tmp_path, '{\n  "Resources": {\n    "Queue": {,}\n  }\n}\n', "template.json")
    assert exc.line == 3
    assert exc.message.startswith("invalid JSON: Expecting property name")


def test_json_template_and_json_content_in_yaml_file(tmp_path: Path) -> None:
    body = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"N": 1}}}}
    from_json = load(tmp_path, json.dumps(body, indent=2), "template.json")
    from_yaml = load(tmp_path, json.dumps(body), "template.yml")
    assert from_json.body == from_yaml.body == body


def test_missing_file_says_how_to_configure(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert info.value.path == path
    assert "template file not found" in info.value.message
    assert "--cloud-stack-template" in info.value.message
    assert "cloud_stack_template" in info.value.message.replace("--cloud-stack-template", "")


def test_directory_and_non_utf8_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="is a directory"):
        load_template(tmp_path)
    path = tmp_path / "latin1.yaml"
    path.write_bytes(QUEUE.encode() + b"# caf\xe9\n")
    with pytest.raises(TemplateError, match=r"not UTF-8 text"):
        load_template(path)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "template is empty", None),
        ("- a\n- b\n", "template must be a mapping at the top level, not a list", 1),
        ("Description: x\n", "template has no Resources", 1),
        ("Resources: {}\n", "template has no Resources", 1),
        ("Resources:\n  Queue: 5\n", "Resources/Queue must be a mapping", 2),
        ("Resources:\n  Queue:\n    Properties: {}\n", "Resources/Queue has no Type", 3),
        ("Resources:\n  Queue:\n    Type: [a]\n", "Resources/Queue/Type must be a non-empty", 3),
        (QUEUE + "Outputs:\n  Url:\n    Export: x\n", "Outputs/Url has no Value", 6),
        (QUEUE + "Parameters: [a]\n", "Parameters must be a mapping", 4),
        (QUEUE + "Parameters:\n  P: {}\n", "Parameters/P has no Type", 5),
        (QUEUE + "Output:\n  X: {Value: 1}\n", "unknown top-level section 'Output'", 4),
    ],
)
def test_structure_errors(tmp_path: Path, text: str, message: str, line: int | None) -> None:
    exc = error(tmp_path, text)
    assert message in exc.message
    assert exc.line == line


# --- references --------------------------------------------------------------------------


def test_ref_to_undefined_names_path_line_and_defined_ids(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """\
        Parameters:
          Env:
            Type: String
        Resources:
          Queue:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !Ref Envv
        """,
    )
    assert exc.line == 8
    assert exc.message == (
        "Ref to undefined 'Envv' in Resources/Queue/Properties/QueueName; defined: Env, Queue;"
        " did you mean 'Env'?"
    )


def test_long_form_ref_in_block_mapping_points_at_its_line(tmp_path: Path) -> None:
    exc = error(tmp_path, QUEUE + "    Properties:\n      QueueName:\n        Ref: Missing\n")
    assert exc.line == 6
    assert "Ref to undefined 'Missing' in Resources/Queue/Properties/QueueName" in exc.message


def test_tag_inside_block_sequence_points_at_its_own_line(tmp_path: Path) -> None:
    text = (
        QUEUE
        + '    Metadata:\n      Value: !Join\n        - ""\n        - - a\n          - !Ref Nope\n'
    )
    exc = error(tmp_path, text)
    assert exc.line == 8
    assert "Ref to undefined 'Nope' in Resources/Queue/Metadata/Value/Fn::Join/1/1;" in exc.message


def test_pseudo_parameters_are_defined(tmp_path: Path) -> None:
    pseudo = "AccountId NotificationARNs NoValue Partition Region StackId StackName URLSuffix"
    refs = ", ".join(f"!Ref AWS::{name}" for name in pseudo.split())
    load(tmp_path, TAGGED.format(snippet=f"[{refs}]"))
    exc = error(tmp_path, TAGGED.format(snippet="!Ref AWS::Regoin"))
    assert "Ref to undefined 'AWS::Regoin'" in exc.message
    assert "did you mean 'AWS::Region'?" in exc.message


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("!GetAtt Nope.Arn", "Fn::GetAtt to undefined resource 'Nope' in "),
        ("!GetAtt [P, Arn]", "Fn::GetAtt to undefined resource 'P' in "),
        ("!GetAtt Queue", "Fn::GetAtt in Resources/Queue/Metadata/Value must be [LogicalId"),
        ('!Sub "${Nope}"', "Fn::Sub to undefined 'Nope' in "),
        ('!Sub "${Nope.Arn}"', "Fn::Sub to undefined 'Nope' in "),
        ("!Sub [a, b]", "Fn::Sub in Resources/Queue/Metadata/Value must be a string"),
        ("!If [Nope, a, b]", "Condition to undefined 'Nope' in "),
        ("!If [C, a]", "Fn::If in Resources/Queue/Metadata/Value must be [Condition"),
        ("!Ref [P]", "Ref in Resources/Queue/Metadata/Value must name a logical ID"),
        ("{Fn::Foo: x}", "unknown intrinsic function Fn::Foo in Resources/Queue/Metadata/Value"),
        ("[{Fn::GetAttr: [Queue, Arn]}]", "unknown intrinsic function Fn::GetAttr in "),
    ],
)
def test_bad_intrinsics_name_path_and_line(tmp_path: Path, snippet: str, message: str) -> None:
    exc = error(tmp_path, TAGGED.format(snippet=snippet))
    assert message in exc.message
    assert exc.line == 11


def test_getatt_with_ref_attribute_is_accepted(tmp_path: Path) -> None:
    load(tmp_path, TAGGED.format(snippet="!GetAtt [Queue, !Ref P]"))


def test_sub_literal_and_variable_map_are_accepted(tmp_path: Path) -> None:
    snippet = '!Sub ["${!Literal}-${Name}-${P}-${Queue.Arn}-${AWS::Region}", {Name: !Ref P}]'
    template = load(tmp_path, TAGGED.format(snippet=snippet))
    value = template.body["Resources"]["Queue"]["Metadata"]["Value"]
    assert value["Fn::Sub"][1] == {"Name": {"Ref": "P"}}


def test_sub_variable_map_values_are_checked(tmp_path: Path) -> None:
    exc = error(tmp_path, TAGGED.format(snippet='!Sub ["${Name}", {Name: !Ref Nope}]'))
    assert "Ref to undefined 'Nope' in Resources/Queue/Metadata/Value/Fn::Sub/1/Name" in str(exc)


def test_depends_on_and_condition_must_exist(tmp_path: Path) -> None:
    base = "Conditions:\n  IsProd: !Equals [a, b]\n" + QUEUE
    exc = error(tmp_path, base + "    DependsOn: Topic\n")
    assert exc.line == 6
    assert exc.message.startswith(
        "DependsOn on undefined 'Topic' in Resources/Queue; defined: Queue"
    )
    exc = error(tmp_path, base + "    DependsOn: [Queue, Topic]\n")
    assert "DependsOn on undefined 'Topic'" in exc.message
    exc = error(tmp_path, base + "    Condition: IsProdd\n")
    assert exc.line == 6
    assert "Condition to undefined 'IsProdd' in Resources/Queue; defined: IsProd" in exc.message
    exc = error(tmp_path, base + "Outputs:\n  Url:\n    Condition: Nope\n    Value: x\n")
    assert (exc.line, exc.message.split(";")[0]) == (
        8,
        "Condition to undefined 'Nope' in Outputs/Url",
    )
    exc = error(tmp_path, "Conditions:\n  Both: !And [!Condition Nope, !Condition Nope]\n" + QUEUE)
    assert exc.line == 2
    assert (
        "Condition to undefined 'Nope' in Conditions/Both/Fn::And/0; defined: Both" in exc.message
    )


def test_json_template_errors_have_path_but_no_line(tmp_path: Path) -> None:
    body = {"Resources": {"Queue": {"Type": "T", "Properties": {"N": {"Ref": "Nope"}}}}}
    exc = error(tmp_path, json.dumps(body), "template.json")
    assert exc.line is None
    assert str(exc).startswith(f"{tmp_path / 'template.json'}: Ref to undefined 'Nope'")


SAM = """\
Transform: AWS::Serverless-2016-10-31
Conditions:
  C: !Equals [a, b]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    DependsOn: GeneratedThing
    Properties:
      Role: !GetAtt FnRole.Arn
      Name: !Sub "${FnRole}-${Loop.Arn}"
      Other: SNIPPET
"""


def sam(snippet: str) -> str:
    return SAM.replace("SNIPPET", snippet)


def test_transform_relaxes_id_checks_only(tmp_path: Path) -> None:
    template = load(tmp_path, sam("!Ref FnRole"))
    assert template.has_transform()
    exc = error(tmp_path, sam("!Reff FnRole"))
    assert (exc.line, "unknown tag !Reff" in exc.message) == (11, True)
    exc = error(tmp_path, sam("{Fn::Foo: x}"))
    assert "unknown intrinsic function Fn::Foo" in exc.message
    exc = error(tmp_path, sam("!If [Nope, a, b]"))
    assert "Condition to undefined 'Nope'" in exc.message


def test_language_extensions_and_rules_functions_are_known(tmp_path: Path) -> None:
    template = load(
        tmp_path,
        """\
        Transform: AWS::LanguageExtensions
        Parameters:
          Env: {Type: String, Default: dev}
        Rules:
          ProdOnly:
            Assertions:
              - Assert: {Fn::Contains: [[dev, prod], !Ref Env]}
        Resources:
          Fn::ForEach::Topics:
            - Name
            - [A, B]
            - Topic${Name}:
                Type: AWS::SNS::Topic
                Properties:
                  TopicName: !Ref Name
          Queue:
            Type: AWS::SQS::Queue
            Properties:
              Size: !Length [a, b]
        """,
    )
    assert template.resource_types() == {"Queue": "AWS::SQS::Queue"}
    exc = error(tmp_path, QUEUE + "    Metadata: {Fn::Contains: [[a], a]}\n")
    assert "unknown intrinsic function Fn::Contains" in exc.message


# --- parameters ---------------------------------------------------------------------------

PARAMS = """\
Parameters:
  Env:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Size:
    Type: Number
    Default: 5
  Zones:
    Type: CommaDelimitedList
    Default: [a, b]
    AllowedValues: [a, b, c]
  Name:
    Type: String
    AllowedPattern: "[a-z]+"
  Secret:
    Type: String
    NoEcho: true
    AllowedPattern: "[0-9]{4}"
Resources:
  Queue:
    Type: AWS::SQS::Queue
"""


def test_parameter_specs_in_template_order(tmp_path: Path) -> None:
    specs = load(tmp_path, PARAMS).parameters()
    assert list(specs) == ["Env", "Size", "Zones", "Name", "Secret"]
    assert specs["Env"] == ParameterSpec("Env", "String", "dev", False, ("dev", "prod"), None)
    assert specs["Size"].default == "5"
    assert specs["Zones"].default == "a,b"
    assert specs["Name"] == ParameterSpec("Name", "String", None, False, (), "[a-z]+")
    assert specs["Secret"].no_echo is True


def test_resolve_defaults_and_overrides(tmp_path: Path) -> None:
    template = load(tmp_path, PARAMS)
    given = {"Name": "orders", "Secret": "1234", "Env": "prod"}
    assert resolve_parameters(template, given) == {
        "Env": "prod",
        "Size": "5",
        "Zones": "a,b",
        "Name": "orders",
        "Secret": "1234",
    }
    assert resolve_parameters(load(tmp_path, QUEUE), {}) == {}


def test_resolve_unknown_parameter(tmp_path: Path) -> None:
    with pytest.raises(TemplateError) as info:
        resolve_parameters(load(tmp_path, PARAMS), {"Nmae": "x", "Name": "a", "Secret": "1234"})
    assert info.value.message == (
        "template has no parameter 'Nmae'; it declares: Env, Size, Zones, Name, Secret"
    )
    with pytest.raises(TemplateError, match="template has no parameter 'X'; it declares none"):
        resolve_parameters(load(tmp_path, QUEUE), {"X": "1"})


def test_resolve_lists_all_missing_parameters(tmp_path: Path) -> None:
    template = load(tmp_path, PARAMS)
    with pytest.raises(TemplateError) as info:
        resolve_parameters(template, {"Name": "a"})
    assert info.value.message == (
        "parameter 'Secret' has no value: pass --cloud-stack-param Secret=VALUE"
        " or set it in the ini key cloud_stack_parameters"
    )
    with pytest.raises(TemplateError) as info:
        resolve_parameters(template, {})
    assert info.value.message.startswith("parameters 'Name', 'Secret' have no value: ")
    assert "--cloud-stack-param" in info.value.message
    assert info.value.message.endswith("in the ini key cloud_stack_parameters")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"Env": "qa"}, "parameter 'Env' value 'qa' is not one of its AllowedValues: dev, prod"),
        ({"Zones": "a,d"}, "parameter 'Zones' item 'd' is not one of its AllowedValues: a, b, c"),
        ({"Name": "orders1"}, "parameter 'Name' value 'orders1' does not match its AllowedPattern"),
        (
            {"Secret": "12345"},
            "parameter 'Secret' value <hidden: NoEcho> does not match its AllowedPattern "
            "'[0-9]{4}'",
        ),
    ],
)
def test_resolve_checks_constraints(tmp_path: Path, given: dict[str, str], message: str) -> None:
    with pytest.raises(TemplateError) as info:
        resolve_parameters(load(tmp_path, PARAMS), {"Name": "a", "Secret": "1234", **given})
    assert message in info.value.message
    assert "12345" not in info.value.message


def test_invalid_allowed_pattern_is_reported_at_load(tmp_path: Path) -> None:
    exc = error(tmp_path, QUEUE + "Parameters:\n  P:\n    Type: String\n    AllowedPattern: '['\n")
    assert exc.line == 7
    assert "Parameters/P/AllowedPattern is not a valid regex" in exc.message


# --- capabilities and metadata ------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "extra", "expected"),
    [
        ({"Q": "AWS::SQS::Queue"}, "", ()),
        ({"R": "AWS::IAM::Role"}, "", ("CAPABILITY_IAM",)),
        ({"R": "AWS::IAM::Role"}, "RoleName", ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM")),
        ({"U": "AWS::IAM::User"}, "UserName", ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM")),
        ({"Q": "AWS::SQS::Queue"}, "QueueName", ()),
        ({"S": "AWS::CloudFormation::Stack"}, "", ("CAPABILITY_AUTO_EXPAND",)),
        ({"A": "AWS::Serverless::Application"}, "", ("CAPABILITY_AUTO_EXPAND",)),
    ],
)
def test_capabilities(resources: dict[str, str], extra: str, expected: tuple[str, ...]) -> None:
    body: dict[str, Any] = {"Resources": {}}
    for logical_id, resource_type in resources.items():
        properties = {extra: "fixed-name"} if extra else {}
        body["Resources"][logical_id] = {"Type": resource_type, "Properties": properties}
    assert load_template(body).capabilities() == expected


def test_capabilities_with_transforms(tmp_path: Path) -> None:
    all_three = ("CAPABILITY_AUTO_EXPAND", "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM")
    assert load(tmp_path, sam("x")).capabilities() == all_three
    macro = TAGGED.format(snippet="!Transform {Name: AWS::Include}")
    assert load(tmp_path, macro).capabilities() == ("CAPABILITY_AUTO_EXPAND",)


def test_resource_types_outputs_and_transform(tmp_path: Path) -> None:
    template = load(
        tmp_path,
        QUEUE + "  Topic:\n    Type: AWS::SNS::Topic\n"
        "Outputs:\n  Url: {Value: !Ref Queue}\n  Arn: {Value: !Ref Topic}\n",
    )
    assert template.resource_types() == {"Queue": "AWS::SQS::Queue", "Topic": "AWS::SNS::Topic"}
    assert template.output_names() == ("Url", "Arn")
    assert not template.has_transform()


def test_to_json_is_compact_ordered_and_deterministic(tmp_path: Path) -> None:
    text = 'Resources:\n  Zed:\n    Type: T\n    Metadata: {b: "é", a: !Ref Zed}\n  Alpha:\n    Type: T\n'
    first, second = load(tmp_path, text), load(tmp_path, text)
    expected = (
        '{"Resources":{"Zed":{"Type":"T","Metadata":{"b":"é","a":{"Ref":"Zed"}}},'
        '"Alpha":{"Type":"T"}}}'
    )
    assert first.to_json() == second.to_json() == expected
    assert first.content_hash() == second.content_hash()
    assert len(first.content_hash()) == 64
    changed = load(tmp_path, text.replace("Alpha", "Beta"))
    assert changed.content_hash() != first.content_hash()


def test_dict_source_is_copied_and_checked() -> None:
    source: dict[str, Any] = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    template = load_template(source)
    assert template.path is None
    source["Resources"]["Queue"]["Type"] = "changed"
    assert template.resource_types() == {"Queue": "AWS::SQS::Queue"}
    with pytest.raises(TemplateError) as info:
        load_template({"Resources": {"Queue": {"Type": "T", "Metadata": {"Ref": "Nope"}}}})
    assert (info.value.path, info.value.line) == (None, None)
    assert str(info.value).startswith("Ref to undefined 'Nope' in Resources/Queue/Metadata;")
    with pytest.raises(TemplateError, match="template cannot be sent as JSON"):
        load_template({"Resources": {"Queue": {"Type": "T", "Metadata": {1, 2}}}})


def test_find_default_template(tmp_path: Path) -> None:
    assert find_default_template(tmp_path) is None
    (tmp_path / "template.json").write_text("{}")
    assert find_default_template(tmp_path) == tmp_path / "template.json"
    (tmp_path / "template.yml").mkdir()  # a directory is not a template
    assert find_default_template(tmp_path) == tmp_path / "template.json"
    (tmp_path / "template.yaml").write_text("{}")
    assert find_default_template(tmp_path) == tmp_path / "template.yaml"

"""The quick resource scan gives the full parse's answer, or none at all."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_cloudstack.errors import TemplateError
from pytest_cloudstack.template import read_resource_types
from pytest_cloudstack.template_scan import scan_resource_types

EXAMPLES = sorted(Path(__file__).parent.parent.glob("examples/*/template.yaml"))

PLAIN = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Queue:
    Type: AWS::SQS::Queue
  "Table":
    Type: 'AWS::DynamoDB::Table'
    Properties:
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      Tags:
        - Key: x
          Value: !Sub "${AWS::StackName}-x"
  Fn::ForEach::Topics:
    - Name
    - [A, B]
    - Topic${Name}: {Type: AWS::SNS::Topic}
  NotAResource: just a string
  Function: {Type: AWS::Serverless::Function, Properties: {Handler: !Ref Handler}}
Outputs:
  Url: {Value: !GetAtt Function.Arn}
"""


def _full(tmp_path: Path, text: str) -> dict[str, str] | str:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    try:
        return read_resource_types(path)
    except TemplateError as error:
        return f"error: {error}"


@pytest.mark.parametrize("template", EXAMPLES, ids=lambda p: p.parent.name)
def test_the_examples_are_scanned_quickly_and_alike(template: Path) -> None:
    scanned = scan_resource_types(template.read_text())
    assert scanned is not None, "the quick scan should be sure of a plain template"
    assert scanned == read_resource_types(template)


def test_a_plain_template_is_scanned_like_the_full_parse(tmp_path: Path) -> None:
    scanned = scan_resource_types(PLAIN)
    assert scanned == {
        "Queue": "AWS::SQS::Queue",
        "Table": "AWS::DynamoDB::Table",
        "Function": "AWS::Serverless::Function",
    }
    assert scanned == _full(tmp_path, PLAIN)


UNSURE = {
    "an alias": "Resources:\n  A: &a {Type: AWS::SQS::Queue}\n  B: *a\n",
    "a merge key": "Resources:\n  A:\n    <<: {Type: AWS::SQS::Queue}\n",
    "an unknown tag deep inside": "Resources:\n  A:\n    Type: AWS::SQS::Queue\n"
    "    Properties: {X: !Bogus y}\n",
    "YAML's own tag": "Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties: {X: !!binary eA==}\n",
    "a duplicate key deep inside": "Resources:\n  A:\n    Type: AWS::SQS::Queue\n"
    "    Properties: {X: 1, X: 2}\n",
    "a duplicate resource": "Resources:\n  A: {Type: AWS::SQS::Queue}\n  A: {Type: AWS::SNS::Topic}\n",
    "nesting past the limit": "Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties: "
    + "[" * 150
    + "]" * 150
    + "\n",
    "two documents": "Resources: {}\n---\nResources: {}\n",
    "an empty document": "",
    "a list at the top": "- Resources\n",
    "a tagged resource": "Resources:\n  A: !If [c, {Type: AWS::SQS::Queue}, {Type: AWS::SNS::Topic}]\n",
    "a resource without a Type": "Resources:\n  A: {Properties: {}}\n",
    "a Type from a function": "Resources:\n  A: {Type: !Ref T}\n",
    "a Type that is not a name": "Resources:\n  A: {Type: 12}\n",
    "invalid YAML": "Resources:\n  A: {Type: AWS::SQS::Queue\n",
    "a non-string key": "Resources:\n  ? [a, b]\n  : {Type: AWS::SQS::Queue}\n",
}


@pytest.mark.parametrize("text", UNSURE.values(), ids=UNSURE.keys())
def test_what_the_scan_is_not_sure_of_goes_to_the_full_parse(tmp_path: Path, text: str) -> None:
    assert scan_resource_types(text) is None
    _full(tmp_path, text)  # whatever the full parse says (a list, or an error): it is the answer


def test_collection_takes_the_full_parse_answer_when_the_scan_is_unsure(
    pytester: pytest.Pytester,
) -> None:
    """A duplicate key deep inside: the scan is unsure, the full parse refuses the template, and
    the header says so (no fixtures are generated from half a reading)."""
    pytester.makefile(".yaml", template=UNSURE["a duplicate key deep inside"])
    pytester.makeini("[pytest]\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*duplicate key 'X'*"])


def test_the_scan_and_the_full_parse_agree_on_a_large_template(tmp_path: Path) -> None:
    resources = "".join(
        textwrap.dedent(
            f"""\
              Queue{n}:
                Type: AWS::SQS::Queue
                Properties: {{QueueName: !Sub "q{n}-${{AWS::StackName}}", Tags: [{{Key: a, Value: b}}]}}
            """
        )
        for n in range(300)
    )
    text = "Resources:\n" + textwrap.indent(resources, "  ")
    scanned = scan_resource_types(text)
    assert scanned is not None and len(scanned) == 300
    assert scanned == _full(tmp_path, text)


def test_invalid_yaml_after_yaml_was_imported_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester's in-process runs drop and re-import ``yaml``; libyaml's extension keeps raising
    the first import's error classes, which the new ``yaml.YAMLError`` does not catch. Seen with
    pytest 7.4 as an INTERNALERROR at configure."""
    import sys

    import yaml  # the first import, whose classes libyaml keeps

    for name in [n for n in sys.modules if n == "yaml" or n.startswith("yaml.")]:
        monkeypatch.delitem(sys.modules, name)
    import yaml  # noqa: F401, F811 - a new module, with new error classes

    assert scan_resource_types(UNSURE["invalid YAML"]) is None

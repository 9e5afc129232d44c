"""A hostile or broken template never slows down or breaks a pytest run.

The template is read at configure time of every run (the generated fixtures come from its
resource list), with or without ``--cloud-stack``: a FIFO, a device, an alias bomb or absurd
nesting must each give a clear error naming the file, and a plain run at most a header line.
A template whose references are wrong still has its resources: the fixtures exist, and the
deploy reports the reference.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# 306 bytes that expand to 9**9 (387 million) strings.
ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + ALIAS_BOMB
DEEP = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Metadata: " + "[" * 300 + "]" * 300
TESTS = """
def test_queue(queue):
    pass

def test_plain():
    pass
"""
DEAD_ENDPOINT = "--cloud-stack=http://127.0.0.1:9"  # nothing is sent: the template stops it first


def _hostile(pytester: pytest.Pytester, case: str) -> str:
    """Make the project's template hostile; the path the errors must name."""
    if case == "alias bomb":
        pytester.makefile(".yaml", template=ALIAS_BOMB)
        return "template.yaml:"
    if case == "300-deep nesting":
        pytester.makefile(".yaml", template=DEEP)
        return "template.yaml:"
    if case == "FIFO":
        os.mkfifo(pytester.path / "template.yaml")
        return "template.yaml: template path is a FIFO (named pipe), not a regular file"
    assert case == "/dev/zero"
    pytester.makeini("[pytest]\ncloud_stack_template = /dev/zero\n")
    return "/dev/zero: template path is a device, not a regular file"


CASES = ["alias bomb", "300-deep nesting", "FIFO", "/dev/zero"]
EXPECTED = {
    "alias bomb": "YAML aliases (*name) expand this template to more than 1,000,000 values",
    "300-deep nesting": "lists and mappings nest more than 100 levels deep",
    "FIFO": "not a regular file",
    "/dev/zero": "not a regular file",
}


@pytest.mark.parametrize("case", CASES)
def test_a_plain_run_is_not_slowed_or_broken_by_a_hostile_template(
    pytester: pytest.Pytester, case: str
) -> None:
    where = _hostile(pytester, case)
    pytester.makepyfile(TESTS)
    # A subprocess with a timeout: before the bounds, the bomb took 100 s and 11 GB, the FIFO
    # hung, /dev/zero and the nesting ended in an INTERNALERROR.
    result = pytester.runpytest_subprocess("-rs", timeout=60)
    result.assert_outcomes(passed=1, skipped=1)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    header = [line for line in output.splitlines() if "fixtures not generated" in line]
    assert len(header) == 1 and header[0].startswith("cloudstack: fixtures not generated: ")
    assert where in header[0] and EXPECTED[case] in header[0]


@pytest.mark.parametrize("case", CASES)
def test_with_the_flag_a_hostile_template_is_a_clear_error_naming_the_file(
    pytester: pytest.Pytester, case: str
) -> None:
    where = _hostile(pytester, case)
    pytester.makepyfile("def test_stack(cloud_stack):\n    pass\n")
    result = pytester.runpytest_subprocess(DEAD_ENDPOINT, timeout=60)
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    errors = [line for line in output.splitlines() if "cloud stack not available" in line]
    assert errors and where in errors[0] and EXPECTED[case] in errors[0]


def test_a_template_over_the_size_bound_is_refused_unread(pytester: pytest.Pytester) -> None:
    template = pytester.path / "template.yaml"
    with template.open("wb") as stream:  # sparse: the plugin must refuse it by its size
        stream.truncate(3 * 1024 * 1024)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["cloudstack: fixtures not generated: *template.yaml: template file is 3,145,728 bytes*"]
    )


TYPO = """\
Resources:
  NotesTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  NotesQueue:
    Type: AWS::SQS::Queue
Outputs:
  Table:
    Value: !Ref NotesTabel
"""
TYPO_TESTS = """
def test_table(notes_table):
    pass

def test_queue(notes_queue):
    pass

def test_unit():
    pass
"""


def test_a_reference_typo_keeps_the_generated_fixtures_without_the_flag(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", template=TYPO)
    pytester.makepyfile(TYPO_TESTS)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] *: needs --cloud-stack"])
    assert "not found" not in result.stdout.str()


def test_a_reference_typo_is_the_error_of_every_test_that_needs_the_stack(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", template=TYPO)
    pytester.makepyfile(TYPO_TESTS)
    result = pytester.runpytest(DEAD_ENDPOINT)
    result.assert_outcomes(passed=1, errors=2)
    output = result.stdout.str()
    assert "not found" not in output
    assert output.count("Ref to undefined 'NotesTabel' in Outputs/Table/Value") >= 2
    assert "did you mean 'NotesTable'?" in output


BROKEN = "Resources:\n  NotesTable:\n    Type: [unclosed\n"


def test_an_unreadable_template_skips_tests_asking_for_a_fixture_with_its_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", template=BROKEN)
    pytester.makepyfile(TYPO_TESTS)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    output = result.stdout.str()
    assert "fixture 'notes_table' not found" not in output
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] test_an_unreadable_template_skips_tests_asking_for_a_fixture_with_"
            "its_error.py:1: needs --cloud-stack; no fixture 'notes_table': fixtures are generated "
            "from the template's resources, and the template could not be read: *template.yaml:3:"
            " invalid YAML*",
        ]
    )


def test_an_unreadable_template_fails_tests_asking_for_a_fixture_with_the_flag(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", template=BROKEN)
    pytester.makepyfile(TYPO_TESTS)
    result = pytester.runpytest(DEAD_ENDPOINT)
    result.assert_outcomes(passed=1, errors=2)
    output = result.stdout.str()
    assert "fixture 'notes_table' not found" not in output
    assert "no fixture 'notes_queue': fixtures are generated from the template's resources" in (
        output
    )
    assert f"{Path(pytester.path, 'template.yaml')}:3: invalid YAML" in output

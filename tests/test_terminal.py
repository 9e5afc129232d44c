"""The plugin's terminal lines: each on a line of its own, pytest's progress line resumed after.

Real runs on the embedded local target, at default verbosity, ``-q``, ``-v`` and ``-n 2``.
"""

from __future__ import annotations

import pytest

TESTS = {
    "test_first": """
        def test_one():
            pass

        def test_two(queue):
            pass

        def test_three(queue):
            pass
        """,
    "test_second": "def test_four(queue):\n    pass\n",
}


@pytest.fixture
def queue_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", template="Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")
    pytester.makeini("[pytest]\ncloud_stack_prefix = term\ncloud_stack_target = local\n")
    pytester.makepyfile(**TESTS)
    return pytester


def _plugin_lines_stand_alone(result: pytest.RunResult) -> None:
    lines = result.outlines
    glued = [
        line for line in lines if "cloudstack: " in line and not line.startswith("cloudstack:")
    ]
    assert not glued, glued
    assert any(line.startswith("cloudstack: deleting stack") for line in lines), lines


def test_default_verbosity_resumes_the_file_line(queue_project: pytest.Pytester) -> None:
    result = queue_project.runpytest("--cloud-stack")
    result.assert_outcomes(passed=4)
    _plugin_lines_stand_alone(result)
    result.stdout.fnmatch_lines(
        [
            "test_first.py .",
            "cloudstack: creating stack term-*",
            "cloudstack: stack term-* created in *",
            "test_first.py .. * [[] 75%[]]",
            "test_second.py . * [[]100%[]]",
            "cloudstack: deleting stack term-*",
        ],
        consecutive=False,
    )
    assert not [line for line in result.outlines if line.strip() == "."], "no lone dot"


def test_quiet_lines_are_not_glued_to_the_dots(queue_project: pytest.Pytester) -> None:
    result = queue_project.runpytest("--cloud-stack", "-q")
    result.assert_outcomes(passed=4)
    _plugin_lines_stand_alone(result)
    result.stdout.fnmatch_lines(
        [".", "cloudstack: creating stack term-*", "cloudstack: stack term-* created in *"]
    )
    result.stdout.fnmatch_lines(["...*[[]100%[]]", "cloudstack: deleting stack term-*"])


def test_verbose_resumes_the_test_location(queue_project: pytest.Pytester) -> None:
    result = queue_project.runpytest("--cloud-stack", "-v")
    result.assert_outcomes(passed=4)
    _plugin_lines_stand_alone(result)
    result.stdout.fnmatch_lines(
        [
            "test_first.py::test_two ",
            "cloudstack: creating stack term-*",
            "cloudstack: stack term-* created in *",
            "test_first.py::test_two PASSED*",
        ]
    )
    assert "" not in result.outlines[result.outlines.index("test_first.py::test_two ") :][:6]


def test_xdist_teardown_line_starts_a_line(queue_project: pytest.Pytester) -> None:
    result = queue_project.runpytest_subprocess("--cloud-stack", "-n", "2")
    result.assert_outcomes(passed=4)
    _plugin_lines_stand_alone(result)
    result.stdout.fnmatch_lines(["....*[[]100%[]]", "cloudstack: deleting stack term-*"])

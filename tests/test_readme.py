"""The README as a newcomer pastes it: its Python samples and its commands, run on ``local``.

Every ```python block runs, as a test module beside the orders example's template (a block
noted ``<!-- readme: not run (why) -->`` is left out). The commands block after the smallest test
runs, except the real-AWS line. ``.ci/run`` runs the two set-up commands as written.
"""

from __future__ import annotations

import re
import shlex
import shutil

import pytest
import readme
from conftest import EXAMPLE, REPO


def _orders_project(pytester: pytest.Pytester, ini: str) -> pytest.Pytester:
    shutil.copy(EXAMPLE / "template.yaml", pytester.path / "template.yaml")
    pytester.makeini(ini)
    return pytester


def test_python_samples_run_on_local(pytester: pytest.Pytester) -> None:
    samples = [block for block in readme.blocks() if block.language == "python" and block.run]
    assert samples, "the README has Python samples"
    project = _orders_project(pytester, "[pytest]\ncloud_stack_prefix = readme\n")
    expected = 0
    for block in samples:
        # Each block as a module of its own: a sample must define everything it uses.
        (project.path / f"test_readme_line_{block.line}.py").write_text(block.text)
        expected += len(re.findall(r"^def test_", block.text, flags=re.MULTILINE))
    assert expected > 0, "the samples define tests"
    result = project.runpytest("--cloud-stack=local", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=expected)


def _commands() -> list[tuple[dict[str, str], list[str], str]]:
    """(environment, pytest arguments, comment) for each line of the README's commands block."""
    commands = []
    for line in readme.marked("readme: commands").text.splitlines():
        command, _, comment = line.partition("#")
        words = shlex.split(command)
        env = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        assert words[:1] == ["pytest"], f"README commands block: not a pytest command: {line!r}"
        commands.append((env, words[1:], comment.strip()))
    return commands


def test_the_readme_commands_run_on_local(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _orders_project(pytester, "[pytest]\ncloud_stack_prefix = readme\n")
    smallest = next(block for block in readme.blocks() if block.language == "python")
    project.makepyfile(test_orders=smallest.text)
    ran = 0
    for env, args, comment in _commands():
        target = env.get("CLOUD_STACK_TARGET") or next(
            (arg.partition("=")[2] or "aws" for arg in args if arg.startswith("--cloud-stack")),
            None,
        )
        if target == "aws":
            assert "real AWS" in comment, "the README says which line needs an account"
            continue
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            result = project.runpytest(*args, "-rs", "-p", "no:cacheprovider")
        if target is None:
            result.assert_outcomes(skipped=1)
            result.stdout.fnmatch_lines(["SKIPPED*needs --cloud-stack"])
        else:
            result.assert_outcomes(passed=1)  # run, and not exit 5: the test was collected
            assert result.ret == pytest.ExitCode.OK
        ran += 1
    assert ran >= 3


def test_the_readme_header_line_is_the_real_one(pytester: pytest.Pytester) -> None:
    shown = re.search(
        r"`(cloudstack: target local \(embedded emulator at [^`]*)`",
        REPO.joinpath("README.md").read_text(),
    )
    assert shown, "the README shows the report header"
    for path in EXAMPLE.iterdir():
        if path.suffix in {".yaml", ".ini"}:
            shutil.copy(path, pytester.path / path.name)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("--cloud-stack", "--collect-only", "-p", "no:cacheprovider")
    real = [line for line in result.outlines if line.startswith("cloudstack: target ")]
    assert len(real) == 1, result.outlines

    def masked(line: str) -> str:
        line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
        return re.sub(r"stack [-a-zA-Z0-9]+,", "stack NAME,", line)

    assert masked(shown.group(1)) == masked(real[0])


def test_ci_runs_the_readme_set_up_commands() -> None:
    script = (REPO / ".ci" / "run").read_text()
    for tag in ("ci: example", "ci: tests"):
        readme.marked(tag)  # exactly one block each
        assert f"readme_command '{tag}'" in script, f".ci/run runs the README's {tag!r} command"

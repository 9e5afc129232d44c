"""The template gate: cfn-lint checks the template before anything is packaged or sent.

cfn-lint is the maintained linter of CloudFormation's own resource schemas (SAM included): it
knows that a DynamoDB key must be declared in ``AttributeDefinitions``, that bucket names stop at
63 characters, that ``AWS::Foo::Bar`` does not exist. It runs as the ``cfn-lint`` command would,
in a child process started at configure time, so that its slow import and its work overlap the
emulator's start and the collection, and so that a template that makes it hang or eat memory
costs a bounded child, never the pytest process. Its findings are cached under the hash of
everything they depend on (the template's bytes, cfn-lint's version, the region, the
``.cfnlintrc`` files it reads): an unchanged template costs a file read on the critical path.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_cloudstack.errors import TemplateError
from pytest_cloudstack.paths import cache_home
from pytest_cloudstack.settings import LintMode, Settings

#: how long the linter may take before the gate gives up on it (and says so)
LINT_SECONDS = 180.0
#: the linter's child may use this much memory: a template that makes it explode stays bounded
LINT_MEMORY_BYTES = 4 * 1024**3
_CONFIG_NAMES = (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml")
# The `cfn-lint` command itself, on this interpreter: same rules, same config file handling,
# in bounded memory (set in the child: preexec_fn is unsafe in a parent that has threads).
_CHILD = (
    "import resource, sys; limit = int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
    "from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; main()"
)


@dataclass(frozen=True)
class Finding:
    """One cfn-lint match: rule, level (``Error``, ``Warning``, ``Informational``), place."""

    rule: str
    level: str
    line: int
    column: int
    message: str

    def describe(self, label: str) -> str:
        return f"{label}:{self.line}:{self.column} {self.rule} {self.message}"


@dataclass(frozen=True)
class Verdict:
    """What the gate found; ``note`` says why nothing was checked, when nothing was."""

    findings: tuple[Finding, ...] = ()
    note: str = ""


def cfn_lint_version() -> str | None:
    """cfn-lint's installed version, read from its metadata (importing it takes 0.4 s)."""
    if importlib.util.find_spec("cfnlint") is None:
        return None
    try:
        return importlib.metadata.version("cfn-lint")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class LintJob:
    """One lint of one template file: from the cache, or from a ``cfn-lint`` child process."""

    def __init__(self, path: Path, region: str, rootdir: Path) -> None:
        self.path = path
        self.region = region
        self.rootdir = rootdir
        self._verdict: Verdict | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._output: Any = None
        self._cache_file: Path | None = None
        self._started = 0.0

    def start(self) -> LintJob:
        """Answer from the cache, or start the child; never raises for a bad file."""
        version = cfn_lint_version()
        if version is None:
            self._verdict = Verdict(
                note="cfn-lint is not installed (pip install 'pytest-cloudstack[lint]'), "
                "so the template gate is off"
            )
            return self
        from pytest_cloudstack.template_file import read_template_bytes

        try:
            source = read_template_bytes(self.path)
        except TemplateError as error:
            # Not a template the reader accepts: its own error says why, before the gate.
            self._verdict = Verdict(note=f"template not linted: {error.message}")
            return self
        self._cache_file = self._cache_path(source, version)
        cached = _read_cache(self._cache_file)
        if cached is not None:
            self._verdict = Verdict(cached)
            return self
        self._output = tempfile.TemporaryFile()
        command = [sys.executable, "-c", _CHILD, str(LINT_MEMORY_BYTES)]
        command += ["--format", "json", "--regions", self.region]
        command += ["--", str(self.path)]
        self._started = time.monotonic()
        self._process = subprocess.Popen(
            command,
            cwd=self.rootdir,  # where cfn-lint looks for the project's .cfnlintrc
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.PIPE,
        )
        return self

    def verdict(self) -> Verdict:
        """Wait for the child (at most ``LINT_SECONDS`` from its start) and read its findings."""
        if self._verdict is None:
            self._verdict = self._collect()
        return self._verdict

    def cancel(self) -> None:
        """Stop the child, if it still runs (the session ends before a deploy needed it)."""
        process = self._process
        if process is not None:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()
        if self._output is not None:
            self._output.close()
            self._output = None

    def _collect(self) -> Verdict:
        assert self._process is not None and self._output is not None
        left = max(0.0, LINT_SECONDS - (time.monotonic() - self._started))
        try:
            _, stderr = self._process.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            self.cancel()
            return Verdict(
                note=f"template not linted: cfn-lint did not finish in {LINT_SECONDS:.0f} s"
            )
        self._output.seek(0)
        raw = self._output.read()
        self.cancel()
        try:
            matches = json.loads(raw)
            findings = tuple(_finding(match) for match in matches)
        except (ValueError, TypeError, KeyError):
            # cfn-lint itself failed (not the template): the deploy goes on, and says so.
            last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            return Verdict(
                note=f"template not linted: cfn-lint failed "
                f"(exit {self._process.returncode}: {last[0][:300]})"
            )
        if self._cache_file is not None:
            _write_cache(self._cache_file, findings)
        return Verdict(findings)

    def _cache_path(self, source: bytes, version: str) -> Path:
        digest = hashlib.sha256()
        for part in (source, version.encode(), self.region.encode(), str(self.path).encode()):
            digest.update(hashlib.sha256(part).digest())
        # The config files cfn-lint reads change its verdict too.
        for folder in (Path.home(), self.rootdir):
            for name in _CONFIG_NAMES:
                try:
                    digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
                except OSError:
                    digest.update(b"-")
        return cache_home() / "lint" / f"{digest.hexdigest()}.json"


def lint_template(
    source: Path | dict[str, Any], region: str, rootdir: Path, started: LintJob | None
) -> Verdict:
    """The verdict on ``source``: the job started at configure time when it is the same file."""
    if isinstance(source, dict):
        # A hook built the template: cfn-lint reads files, so it gets one (lines are JSON's).
        with tempfile.TemporaryDirectory(prefix="cloudstack-lint-") as folder:
            path = Path(folder) / "template.json"
            path.write_text(json.dumps(source, indent=1, default=str))
            return LintJob(path, region, rootdir).start().verdict()
    if started is not None and started.path == source and started.region == region:
        return started.verdict()
    if started is not None:
        started.cancel()
    return LintJob(source, region, rootdir).start().verdict()


def apply_gate(verdict: Verdict, mode: LintMode, label: str, write: Callable[[str], None]) -> None:
    """Stop on the findings ``mode`` says must stop the run; show the others."""
    if verdict.note:
        write(verdict.note)
        return
    stopping_levels = {"Error"} | ({"Warning"} if mode is LintMode.WARNINGS else set())
    stopping = [f for f in verdict.findings if f.level in stopping_levels]
    shown = [f for f in verdict.findings if f.level not in stopping_levels]
    for finding in shown:
        write(f"cfn-lint {finding.level.lower()}: {finding.describe(label)}")
    if stopping:
        raise TemplateError(_stop_message(stopping, mode, label))


def start_lint(settings: Settings, region: str) -> LintJob | None:
    """cfn-lint the configured template now, in a child, so that it overlaps collection. None
    when the gate is off or there is no template file yet (the deploy reports that one)."""
    from pytest_cloudstack.template import find_default_template

    if settings.lint is LintMode.OFF:
        return None
    path = settings.template or find_default_template(settings.rootdir)
    if path is None:
        return None
    return LintJob(path, region, settings.rootdir).start()


def gate(
    source: Path | dict[str, Any],
    settings: Settings,
    region: str,
    started: LintJob | None,
    write: Callable[[str], None],
) -> None:
    """Stop on cfn-lint's errors (and warnings, if asked) before anything is packaged;
    ``started`` is ``start_lint``'s job, used when it linted this very file."""
    if settings.lint is LintMode.OFF:
        return
    verdict = lint_template(source, region, settings.rootdir, started)
    label = "(template from the hook)"
    if isinstance(source, Path):
        label = str(source)
        with contextlib.suppress(ValueError):
            label = str(source.relative_to(settings.rootdir))
    apply_gate(verdict, settings.lint, label, write)


def _stop_message(findings: Sequence[Finding], mode: LintMode, label: str) -> str:
    what = "errors" if mode is LintMode.ERRORS else "errors and warnings"
    lines = [f"cfn-lint found {len(findings)} problem(s) in {label}; nothing was deployed:"]
    lines += [f"  {finding.describe(label)}" for finding in findings]
    lines.append(
        f"(ini cloud_stack_lint = {mode.value} stops on {what}; a rule can be ignored in "
        ".cfnlintrc or the template's Metadata: cfn-lint section)"
    )
    return "\n".join(lines)


def _finding(match: dict[str, Any]) -> Finding:
    start = match["Location"]["Start"]
    return Finding(
        rule=str(match["Rule"]["Id"]),
        level=str(match["Level"]),
        line=int(start["LineNumber"]),
        column=int(start["ColumnNumber"]),
        message=str(match["Message"]),
    )


def _read_cache(path: Path) -> tuple[Finding, ...] | None:
    from pytest_cloudstack.paths import read_cached_json

    data = read_cached_json(path)
    try:
        return tuple(Finding(**item) for item in data) if isinstance(data, list) else None
    except TypeError:  # an entry of another shape
        return None


def _write_cache(path: Path, findings: tuple[Finding, ...]) -> None:
    from pytest_cloudstack.paths import write_cached_json

    write_cached_json(path, [asdict(f) for f in findings])

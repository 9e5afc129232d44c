"""The resource fixtures: factories (``dynamodb_table("OrdersTable")``) and one generated fixture
per supported resource of the template (``OrdersTable`` -> ``orders_table``).

Generated fixtures are registered at configure time, also without ``--cloud-stack``, so that a
test using one is collected and skipped ("needs --cloud-stack") rather than failing with
"fixture not found". Every run pays for that, so the template's resource list is cached by the
template's content hash: parsing YAML (and importing PyYAML) costs some 25 ms, a cache hit well
under one. Nothing here imports boto3.
"""

from __future__ import annotations

import hashlib
import inspect
import keyword
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_cloudstack.handles import Bucket, Function, Queue, Table, Topic
    from pytest_cloudstack.settings import Settings
    from pytest_cloudstack.stack import Stack

#: handle kind (the ``Stack`` method) -> the resource types it serves; SAM types are listed as
#: the template names them (the deployed stack shows what they were transformed into)
HANDLE_KINDS: dict[str, tuple[str, ...]] = {
    "table": (
        "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable",
        "AWS::Serverless::SimpleTable",
    ),
    "queue": ("AWS::SQS::Queue",),
    "function": ("AWS::Lambda::Function", "AWS::Serverless::Function"),
    "bucket": ("AWS::S3::Bucket",),
    "topic": ("AWS::SNS::Topic",),
    "state_machine": ("AWS::StepFunctions::StateMachine", "AWS::Serverless::StateMachine"),
    "api": (
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGatewayV2::Api",
        "AWS::Serverless::Api",
        "AWS::Serverless::HttpApi",
    ),
}
KIND_NOUNS = {
    "table": "a DynamoDB table",
    "queue": "an SQS queue",
    "function": "a Lambda function",
    "bucket": "an S3 bucket",
    "topic": "an SNS topic",
    "state_machine": "a Step Functions state machine",
    "api": "an API Gateway API",
}
_HANDLE_CLASSES = {
    "table": "Table",
    "queue": "Queue",
    "function": "Function",
    "bucket": "Bucket",
    "topic": "Topic",
    "state_machine": "StateMachine",
    "api": "Api",
}
FACTORY_FIXTURES = ("dynamodb_table", "sqs_queue", "lambda_function", "s3_bucket", "sns_topic")
AUTO_FIXTURES_PLUGIN = "cloudstack-auto-fixtures"
# The names template.find_default_template looks for, repeated here: importing template.py
# imports PyYAML (some 20 ms), which a cache hit must not pay.
_DEFAULT_TEMPLATES = ("template.yaml", "template.yml", "template.json")
_CACHE_LIMIT = 256  # cached template indexes kept; each is a few hundred bytes


# -------------------------------------------------------------------------------------------
# factories


@pytest.fixture(scope="session")
def dynamodb_table(cloud_stack: Stack) -> Callable[[str], Table]:
    """Factory: ``dynamodb_table(logical_id)`` -> that DynamoDB table of the stack, a ``Table``.

    ``logical_id``: a logical ID of the template (``Parent/Child/Id`` inside nested stacks)
    or an Output name.
    """
    return cloud_stack.table


@pytest.fixture(scope="session")
def sqs_queue(cloud_stack: Stack) -> Callable[[str], Queue]:
    """Factory: ``sqs_queue(logical_id)`` -> that SQS queue of the stack, a ``Queue``.

    ``logical_id``: a logical ID of the template (``Parent/Child/Id`` inside nested stacks)
    or an Output name.
    """
    return cloud_stack.queue


@pytest.fixture(scope="session")
def lambda_function(cloud_stack: Stack) -> Callable[[str], Function]:
    """Factory: ``lambda_function(logical_id)`` -> that Lambda function of the stack, a
    ``Function``.

    ``logical_id``: a logical ID of the template (``Parent/Child/Id`` inside nested stacks)
    or an Output name.
    """
    return cloud_stack.function


@pytest.fixture(scope="session")
def s3_bucket(cloud_stack: Stack) -> Callable[[str], Bucket]:
    """Factory: ``s3_bucket(logical_id)`` -> that S3 bucket of the stack, a ``Bucket``.

    ``logical_id``: a logical ID of the template (``Parent/Child/Id`` inside nested stacks)
    or an Output name.
    """
    return cloud_stack.bucket


@pytest.fixture(scope="session")
def sns_topic(cloud_stack: Stack) -> Callable[[str], Topic]:
    """Factory: ``sns_topic(logical_id)`` -> that SNS topic of the stack, a ``Topic``.

    ``logical_id``: a logical ID of the template (``Parent/Child/Id`` inside nested stacks)
    or an Output name.
    """
    return cloud_stack.topic


# -------------------------------------------------------------------------------------------
# generated fixtures


@dataclass(frozen=True)
class AutoFixture:
    """One generated fixture: its name, and the resource it gives."""

    name: str
    logical_id: str
    resource_type: str
    kind: str
    #: the stack of ``cloud_stack_stacks`` it comes from; None: the first (``cloud_stack``)
    stack_key: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A supported resource that got no fixture, and why."""

    logical_id: str
    name: str
    reason: str


@dataclass(frozen=True)
class AutoFixturePlan:
    """What configure time generated for this run."""

    fixtures: tuple[AutoFixture, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    #: why the template's resources could not be read (then no fixture is generated)
    error: str | None = None
    #: names prefixed with their stack's key: the same logical ID is in several stacks
    prefixed: tuple[str, ...] = ()
    #: a template was read for them (through the plugin's cache folder)
    read_template: bool = False

    def report(self) -> list[str]:
        """The header lines naming what was not generated, or renamed (the one place this is said)."""
        if self.error is not None:
            return [f"cloudstack: fixtures not generated: {self.error}"]
        lines = []
        if self.prefixed:
            lines.append(
                "cloudstack: fixtures named with their stack's key, as several stacks have the "
                f"logical ID: {', '.join(self.prefixed)}"
            )
        if self.skipped:
            parts = [f"{s.name} for {s.logical_id} ({s.reason})" for s in self.skipped]
            lines.append(f"cloudstack: fixtures not generated: {'; '.join(parts)}")
        return lines


plan_key = pytest.StashKey[AutoFixturePlan]()


def kind_of(resource_type: str) -> str | None:
    """The handle kind serving ``resource_type``, or None."""
    for kind, types in HANDLE_KINDS.items():
        if resource_type in types:
            return kind
    return None


_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def fixture_name(logical_id: str) -> str:
    """``OrdersTable`` -> ``orders_table``; ``S3Bucket`` -> ``s3_bucket``; ``MyDLQQueue`` ->
    ``my_dlq_queue``."""
    return _WORD_BOUNDARY.sub("_", logical_id).lower()


def plan_auto_fixtures(
    resource_types: Mapping[str, str],
    taken: Mapping[str, str],
    others: Mapping[str, Mapping[str, str]] | None = None,
    primary_key: str = "default",
) -> AutoFixturePlan:
    """Which fixtures to generate for these resources, given the fixture names already ``taken``
    (name -> where it is defined).

    ``others``: the resources of the session's other stacks, by key. A logical ID found in
    several stacks gets fixtures named ``{key}_{name}`` in each.
    """
    sources: list[tuple[str | None, Mapping[str, str]]] = [(None, resource_types)]
    sources += list((others or {}).items())
    seen: dict[str, int] = {}
    for _, resources in sources:
        for logical_id, resource_type in resources.items():
            if kind_of(resource_type) is not None:
                seen[logical_id] = seen.get(logical_id, 0) + 1
    candidates: dict[str, list[tuple[str, str, str, str | None]]] = {}
    skipped: list[Skipped] = []
    prefixed: list[str] = []
    for key, resources in sources:
        for logical_id, resource_type in resources.items():
            kind = kind_of(resource_type)
            if kind is None:
                continue
            name = fixture_name(logical_id)
            if seen[logical_id] > 1:
                name = f"{fixture_name(key or primary_key).replace('-', '_')}_{name}"
                prefixed.append(name)
            _consider(name, logical_id, resource_type, kind, key, taken, candidates, skipped)
    fixtures: list[AutoFixture] = []
    for name, owners in candidates.items():
        if len(owners) > 1:
            ids = " and ".join(owner[0] for owner in owners)
            skipped += [Skipped(owner[0], name, f"{ids} have the same name") for owner in owners]
        else:
            fixtures.append(AutoFixture(name, *owners[0]))
    return AutoFixturePlan(tuple(fixtures), tuple(skipped), prefixed=tuple(prefixed))


def _consider(
    name: str,
    logical_id: str,
    resource_type: str,
    kind: str,
    key: str | None,
    taken: Mapping[str, str],
    candidates: dict[str, list[tuple[str, str, str, str | None]]],
    skipped: list[Skipped],
) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        skipped.append(Skipped(logical_id, name, "not a valid Python name"))
    elif name.startswith("pytest_"):
        skipped.append(Skipped(logical_id, name, "pytest_ names are for hooks"))
    elif name in taken:
        skipped.append(Skipped(logical_id, name, f"already a fixture in {taken[name]}"))
    else:
        candidates.setdefault(name, []).append((logical_id, resource_type, kind, key))


def register_auto_fixtures(config: pytest.Config, settings: Settings) -> AutoFixturePlan:
    """Generate and register the fixtures of the template's supported resources (configure time).

    Fixtures come from the resource list alone, so a template whose references are wrong still
    gets them (the deploy reports the reference). A template that cannot be read generates
    nothing; ``error`` says why, for the header and for tests that ask for a fixture.
    """
    from pytest_cloudstack.errors import TemplateError

    plan = AutoFixturePlan()
    stacks = list(settings.stacks)
    path = stacks[0][1] if stacks else settings.template or _default_template(settings.rootdir)
    if settings.auto_fixtures and path is not None:
        try:
            resources = template_resources(path)
            others = {key: template_resources(other) for key, other in stacks[1:]}
        except TemplateError as error:
            plan = AutoFixturePlan(error=str(error))
        else:
            if resources or any(others.values()):
                taken = existing_fixtures(config.pluginmanager, settings.rootdir)
                primary = stacks[0][0] if stacks else "default"
                plan = plan_auto_fixtures(resources, taken, others, primary)
        plan = replace(plan, read_template=True)
    if plan.fixtures:
        holder = ModuleType("pytest_cloudstack.generated_fixtures")
        holder.__doc__ = "Fixtures generated from the template's resources."
        for auto in plan.fixtures:
            setattr(holder, auto.name, _make_fixture(auto))
        config.pluginmanager.register(holder, AUTO_FIXTURES_PLUGIN)
    config.stash[plan_key] = plan
    return plan


def _make_fixture(auto: AutoFixture) -> Any:
    kind, logical_id, key = auto.kind, auto.logical_id, auto.stack_key
    fixture: Callable[..., Any]
    if key is None:

        def fixture(cloud_stack: Stack) -> Any:
            return getattr(cloud_stack, kind)(logical_id)

        source, same_as = "the deployed stack", f"cloud_stack.{kind}({logical_id!r})"
    else:

        def fixture(cloud_stacks: Mapping[str, Stack]) -> Any:
            return getattr(cloud_stacks[key], kind)(logical_id)

        source, same_as = f"stack {key!r}", f"cloud_stacks[{key!r}].{kind}({logical_id!r})"
    fixture.__name__ = fixture.__qualname__ = auto.name
    fixture.__doc__ = (
        f"{logical_id} ({auto.resource_type}) of {source}, as a "
        f"``{_HANDLE_CLASSES[kind]}`` handle (generated from the template's logical ID "
        f"{logical_id}; same as ``{same_as}``)."
    )
    return pytest.fixture(scope="session", name=auto.name)(fixture)


def existing_fixtures(pluginmanager: pytest.PytestPluginManager, rootdir: Path) -> dict[str, str]:
    """Fixture names defined by the plugins (and initial conftests) registered so far.

    pytest has no public listing before the session starts, so fixture definitions are
    recognised by what ``@pytest.fixture`` leaves behind: a ``FixtureFunctionDefinition``
    (pytest >= 8.4) or a function marked ``_pytestfixturefunction`` (older pytest).
    """
    taken = {"request": "pytest (the request object)"}
    for plugin in pluginmanager.get_plugins():
        for attribute, value in _namespace(plugin).items():
            name = _declared_fixture_name(attribute, value)
            if name is not None and name not in taken:
                taken[name] = _where(pluginmanager.get_name(plugin) or repr(plugin), rootdir)
    return taken


def _namespace(plugin: object) -> dict[str, Any]:
    if isinstance(plugin, ModuleType):
        return dict(vars(plugin))
    namespace: dict[str, Any] = {}
    for klass in reversed(type(plugin).__mro__):
        namespace.update(vars(klass))
    return namespace


def _declared_fixture_name(attribute: str, value: object) -> str | None:
    if type(value).__name__ == "FixtureFunctionDefinition":
        return str(getattr(value, "name", attribute))
    if inspect.isfunction(value):
        marker = value.__dict__.get("_pytestfixturefunction")
        if marker is not None:
            return str(getattr(marker, "name", None) or attribute)
    return None


def _where(plugin_name: str, rootdir: Path) -> str:
    if plugin_name.endswith("conftest.py"):
        try:
            return str(Path(plugin_name).relative_to(rootdir))
        except ValueError:
            return plugin_name
    return f"plugin {plugin_name}"


def _default_template(rootdir: Path) -> Path | None:
    for name in _DEFAULT_TEMPLATES:
        candidate = rootdir / name
        if candidate.exists() and not candidate.is_dir():  # a FIFO is found, then refused
            return candidate
    return None


# -------------------------------------------------------------------------------------------
# the template's resources, cached by content


def template_resources(path: Path) -> dict[str, str]:
    """Logical ID -> resource type of the template at ``path``.

    Cached under ``$XDG_CACHE_HOME/pytest-cloudstack/templates`` by the SHA-256 of the file's
    bytes, so an edited template is parsed again and an unchanged one never is. Raises
    ``TemplateError`` for a file that cannot be read or parsed (bounded: see template_file.py).
    """
    from pytest_cloudstack.paths import read_cached_json
    from pytest_cloudstack.template_file import read_template_bytes

    data = read_template_bytes(path)
    entry = _cache_dir() / f"{hashlib.sha256(data).hexdigest()}.json"
    found = read_cached_json(entry)
    cached = found.get("resources") if isinstance(found, dict) else None
    if isinstance(cached, dict):
        return {str(key): str(value) for key, value in cached.items()}
    resources = _scanned(data) if path.suffix.lower() != ".json" else None
    if resources is None:  # JSON, or something the quick scan is not sure of: parse in full
        from pytest_cloudstack.template import read_resource_types

        resources = read_resource_types(path)
    _store(entry, {"resources": resources})
    return resources


def _scanned(data: bytes) -> dict[str, str] | None:
    from pytest_cloudstack.template_scan import scan_resource_types

    try:
        return scan_resource_types(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None


def _cache_dir() -> Path:
    from pytest_cloudstack.paths import cache_home

    return cache_home() / "templates"


def _store(entry: Path, content: dict[str, Any]) -> None:
    # A cache: any failure (read-only home, a race with another process) only costs a re-parse.
    from pytest_cloudstack.paths import write_cached_json

    if not write_cached_json(entry, content):
        return
    try:
        kept = sorted(entry.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-_CACHE_LIMIT]:
            old.unlink(missing_ok=True)
    except OSError:
        pass

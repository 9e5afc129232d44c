"""pytest entry point: options, hook registration, the ``cloud_stack`` fixture and the wiring.

Kept thin on purpose: the lifecycle is in ``run.py``, CloudFormation in ``deploy.py``, naming in
``naming.py``, templates in ``template.py``, the emulator in ``local/``, xdist in ``xdist.py``.
Nothing here imports boto3: a pytest run without ``--cloud-stack`` pays nothing for the plugin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

from pytest_cloudstack import fixtures as resource_fixtures
from pytest_cloudstack import settings as settings_module
from pytest_cloudstack.errors import CloudStackError, ConfigurationError
from pytest_cloudstack.eventually import MARKER_LINE, MarkerPlugin
from pytest_cloudstack.fixtures import (  # noqa: F401 - fixtures, registered with this plugin
    dynamodb_table,
    lambda_function,
    s3_bucket,
    sns_topic,
    sqs_queue,
)

if TYPE_CHECKING:
    from pytest_cloudstack.stack import Stack

#: fixtures that need the deployed stack; a test using any of them gets the cloud_stack marker
#: (generated fixtures are found through their own dependency on cloud_stack)
CLOUD_FIXTURES = frozenset({"cloud_stack", "cloud_stacks", *resource_fixtures.FACTORY_FIXTURES})
SKIP_REASON = "needs --cloud-stack"
T = TypeVar("T")


class StackProvider(Protocol):
    """What a test process asks for the stack: the owning run, or an xdist worker's view."""

    def ensure_deployed(self) -> Stack: ...

    def ensure_all(self) -> dict[str, Stack]: ...

    def finish(self, tests_failed: bool = False) -> None: ...


settings_key = pytest.StashKey[settings_module.Settings]()
provider_key = pytest.StashKey[StackProvider]()
test_started_key = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_module.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_cloudstack import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cloud_stack: the test needs the deployed cloud stack "
        "(added automatically to tests that use a cloud fixture)",
    )
    config.addinivalue_line("markers", MARKER_LINE)
    config.pluginmanager.register(MarkerPlugin(), "cloudstack-eventually")
    try:
        settings = settings_module.resolve(config)
    except ConfigurationError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[settings_key] = settings
    # Also without --cloud-stack: tests using them must be collected, then skipped.
    resource_fixtures.register_auto_fixtures(config, settings)
    if not settings.enabled:
        return
    try:
        provider = config.stash[provider_key] = _start_provider(config, settings)
    except CloudStackError as error:
        raise pytest.UsageError(str(error)) from None
    if settings.autouse:
        from pytest_cloudstack.autouse import EagerDeploy

        env_names = [*settings.env_names, *(env_name for env_name, _ in settings.env_keys)]
        eager = EagerDeploy(provider.ensure_deployed, env_names)
        config.pluginmanager.register(eager, "cloudstack-autouse")


def _start_provider(config: pytest.Config, settings: settings_module.Settings) -> StackProvider:
    from pytest_cloudstack.xdist import WorkerStack, worker_payload

    payload = worker_payload(config)
    if payload is not None:
        worker = WorkerStack(config, payload)
        worker.start()
        return worker
    from pytest_cloudstack.stacks import StackSet

    run = StackSet(config, settings, _terminal_writer(config))
    run.start()
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_cloudstack.xdist import XdistController

        config.pluginmanager.register(XdistController(run), "cloudstack-xdist-controller")
    return run


def _terminal_writer(config: pytest.Config) -> Callable[[str], None]:
    from pytest_cloudstack.terminal import TerminalLines

    lines = TerminalLines(config)
    config.pluginmanager.register(lines, "cloudstack-terminal")
    return lines.write


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--cloud-stack-sweep`` and ``--cloud-stack-plan``: commands that run instead of tests."""
    if config.option.cloud_stack_sweep is None and not config.option.cloud_stack_plan:
        return None
    from pytest_cloudstack.commands import run_command

    return run_command(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    provider = config.stash.get(provider_key, None)
    header = getattr(provider, "header", None)
    lines = list(header()) if callable(header) else []
    plan = config.stash.get(resource_fixtures.plan_key, None)
    if provider is not None or (plan is not None and plan.read_template):
        # Only when this run used the cache folder: looking creates it.
        from pytest_cloudstack.paths import cache_warning

        warning = cache_warning()
        lines += [warning] if warning is not None else []
    return lines + (plan.report() if plan is not None else [])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Without --cloud-stack, a skip mark (not pytest.skip in a hook) puts the reason at the
    # test's own location in the report, not at a line of this plugin.
    skip = provider_key not in config.stash and not config.stash[settings_key].required
    for item in items:
        if CLOUD_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker("cloud_stack")
        if skip and item.get_closest_marker("cloud_stack") is not None:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("cloud_stack") is not None or _every_test_needs_it(item.config):
        if provider_key not in item.config.stash and item.get_closest_marker("skip"):
            return  # the skip mark added at collection reports it, at the test's location
        _stack_for(item.config)
        item.stash[test_started_key] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when == "setup" and report.failed and call.excinfo is not None:
        _explain_missing_fixture(item, call.excinfo, report)
    started = item.stash.get(test_started_key, None)
    if started is None or report.when != "call" or not report.failed:
        return
    provider = item.config.stash.get(provider_key, None)
    death = getattr(provider, "emulator_death", None)
    died = death() if callable(death) else None
    if died is not None:
        # The test's calls failed because the emulator is gone: say that, not "could not connect".
        from pytest_cloudstack.responses import is_service_error, service_message

        if call.excinfo is not None and is_service_error(call.excinfo.value):
            report.longrepr = (
                f"{died}\n(the test's call failed: {service_message(call.excinfo.value)})"
            )
        return
    # A failing test that needed the stack: what did its functions log meanwhile?
    from pytest_cloudstack.lambda_logs import SECTION, section_for

    if provider is not None:
        ended = time.time()
        texts = [section_for(stack, started, ended) for stack in provider.ensure_all().values()]
        text = "\n".join(text for text in texts if text)
        if text:
            report.sections.append((SECTION, text))


def _explain_missing_fixture(
    item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException], report: pytest.TestReport
) -> None:
    """A fixture not found while the template could not be read: say why it was not generated.

    With the stack requested (or required) the test errors with the template's error; without,
    it is skipped like any test that needs the stack, the reason naming the template's error.
    """
    plan = item.config.stash.get(resource_fixtures.plan_key, None)
    if plan is None or plan.error is None or excinfo.typename != "FixtureLookupError":
        return
    name = getattr(excinfo.value, "argname", None) or "?"
    message = (
        f"no fixture {name!r}: fixtures are generated from the template's resources, and the "
        f"template could not be read: {plan.error}"
    )
    settings = item.config.stash[settings_key]
    if settings.enabled or settings.required:
        report.longrepr = message
        return
    report.outcome = "skipped"
    report.longrepr = (
        str(item.path),
        (item.location[1] or 0) + 1,
        f"Skipped: {SKIP_REASON}; {message}",
    )


def _every_test_needs_it(config: pytest.Config) -> bool:
    # ini cloud_stack_autouse (or cloud_stack_env): a suite that reads the stack by name, with
    # --cloud-stack given. Without the flag such a suite's unit tests must still run.
    return config.stash[settings_key].autouse and provider_key in config.stash


def _stack_for(config: pytest.Config) -> Stack:
    return _ask(config, lambda provider: provider.ensure_deployed())


def _stacks_for(config: pytest.Config) -> dict[str, Stack]:
    return _ask(config, lambda provider: provider.ensure_all())


def _ask(config: pytest.Config, question: Callable[[StackProvider], T]) -> T:
    provider = config.stash.get(provider_key, None)
    if provider is None:
        if config.stash[settings_key].required:
            pytest.fail(f"{SKIP_REASON} (ini cloud_stack_required = true)", pytrace=False)
        pytest.skip(SKIP_REASON)
    try:
        return question(provider)
    except CloudStackError as error:
        reason = f"cloud stack not available: {error}"
    # Outside the except block: the reason alone, without "during handling of ..." chaining.
    pytest.fail(reason, pytrace=False)


@pytest.fixture(scope="session")
def cloud_stack(request: pytest.FixtureRequest) -> Stack:
    """The deployed CloudFormation stack of this run (``pytest --cloud-stack``).

    ``.name``, ``.target``, ``.region``, ``.outputs``, ``.resources``, ``.session`` and
    ``.client(service)``; deployed once per run, torn down at the end of the session.
    """
    return _stack_for(request.config)


@pytest.fixture(scope="session")
def cloud_stacks(request: pytest.FixtureRequest) -> dict[str, Stack]:
    """Every stack of this run by its key in ini ``cloud_stack_stacks``, in deploy order.

    The first is also ``cloud_stack``; a single-stack run has one, ``"default"``.
    """
    return dict(_stacks_for(request.config))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    # trylast: after the fixtures' own finalizers, which may still use the stack.
    provider = session.config.stash.get(provider_key, None)
    if provider is None:
        return
    provider.finish(tests_failed=session.testsfailed > 0)
    # A stack that could not be deleted costs money, a teardown hook that raised is a bug: the
    # run must not look green.
    failed = getattr(provider, "teardown_failed", None)
    if callable(failed) and failed() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    # A session that never started (a usage error after configure) still stops the emulator.
    provider = config.stash.get(provider_key, None)
    if provider is not None:
        provider.finish()
        del config.stash[provider_key]
        _skip_the_last_collection()


def _skip_the_last_collection() -> None:
    """At exit, Python's full garbage collections walk every object left, boto3's models
    included: ~0.1 s of every ``--cloud-stack`` session. Frozen objects are skipped. Objects
    freed by reference counting are finalized as before; only cyclic garbage left at exit is not
    (which Python never promised to finalize)."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)  # last registered: runs first, after the session ended


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    provider = config.stash.get(provider_key, None)
    lines = getattr(provider, "summary_lines", None)
    if not callable(lines):
        return
    terminalreporter.section("cloud stack")
    for line in lines():
        terminalreporter.write_line(line)

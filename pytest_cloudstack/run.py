"""One pytest run's cloud stack: everything between configure and the end of the session.

``CloudStackRun`` lives in ``config.stash`` of the process that owns the stack (the only process
without xdist; the controller with xdist). It names the stack at configure time, starts the
emulator for ``local``, deploys once when the first test needs the stack, and tears everything
down, in reverse order, from ``pytest_sessionfinish``. Every lifetime is a context manager on one
``ExitStack``, so an error half-way through still undoes what was done.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cloudstack import naming
from pytest_cloudstack.connection import EMULATOR_REGION, Connection, remote_connection
from pytest_cloudstack.environment import export_stack_name, pointed_at
from pytest_cloudstack.errors import CloudStackError, DeployError, ServiceError, TemplateError
from pytest_cloudstack.responses import boto_errors, is_service_error, reason, service_message
from pytest_cloudstack.run_report import (
    TeardownReport,
    delete_command,
    hook_template,
    kept_detail,
    retained_detail,
    retained_resources,
    summary_lines,
    user_traceback,
)
from pytest_cloudstack.settings import Keep, Settings, TargetKind
from pytest_cloudstack.stack import Stack, describe_stack

if TYPE_CHECKING:
    from pytest_cloudstack.deploy import DeployRequest
    from pytest_cloudstack.lint import LintJob
    from pytest_cloudstack.share import SharedStack

Writer = Callable[[str], None]


class CloudStackRun:
    """The stack's whole lifetime in the owning process."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        write: Writer,
        shared: Connection | None = None,
    ) -> None:
        self.config = config
        #: another stack of the session (``stacks.py``): its connection (and emulator) is shared,
        #: and the ``pytest_cloudstack_template`` hook, which names one template, is not asked
        self.shared = shared
        self._account_checked = False
        self.settings = settings
        self.write = write
        self.name = ""
        self.template_label = ""
        self.connection: Connection | None = None
        self.branch: naming.BranchInfo | None = None
        self.stack: Stack | None = None
        self.deploy_error: CloudStackError | None = None
        self.deploy_action = ""
        self.deploy_seconds = 0.0
        self.teardown_report: TeardownReport | None = None
        #: why a deploy that started never ended with a stack or an error (interrupt, crash)
        self.deploy_unfinished = ""
        #: what the pytest_cloudstack_teardown hook raised: a user error, and the run fails
        self.hook_error = ""
        self._deployed = False
        self._finished = False
        #: tags the stacks this run creates, so that it never mistakes another run's for its own
        self.run_id = uuid.uuid4().hex
        #: logical IDs with DeletionPolicy Retain: left behind on purpose by the delete
        self.retained: tuple[str, ...] = ()
        self.failure_path: Path | None = None
        #: packaged artifacts: (how many the template references, how many were uploaded)
        self.artifacts = (0, 0)
        #: local target: the one line naming what the emulator did not create or run, if any
        self.fidelity: str | None = None
        self._template_body: dict[str, Any] = {}
        self._operations: Any = None
        #: bounds the deploy's and the delete's calls; made once the connection is known
        self._calls: Any = None
        self._session: Any = None
        self._emulator: Any = None
        self._lint: LintJob | None = None
        self._share: SharedStack | None = None
        self._exit = contextlib.ExitStack()

    # -- configure time -------------------------------------------------------------------------

    def start(self) -> None:
        """Name the stack, export it, start the emulator: everything test modules may rely on."""
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise

    def _start(self) -> None:
        from pytest_cloudstack.signals import TerminationAsInterrupt

        settings = self.settings
        # First in, last out: CI cancellation (SIGTERM) ends the session like Ctrl-C, until the
        # very end of the teardown.
        self._exit.enter_context(TerminationAsInterrupt())
        if settings.name:
            self.name = settings.name
        else:
            # The embedded emulator is private to this run: outside git it needs no real branch.
            local = settings.target.kind is TargetKind.LOCAL
            self.branch = naming.detect_branch(
                os.environ, settings.rootdir, "local" if local else None
            )
            user = None if self.branch.in_ci else naming.current_user()
            self.name = naming.stack_name(settings.prefix, self.branch.branch, user)
        self.template_label = self._template_label()
        if settings.upgrade_from:
            from pytest_cloudstack.upgrade_path import check_upgrade_settings

            check_upgrade_settings(settings, settings.upgrade_from)
        self.connection = self.shared or self._connect()
        from pytest_cloudstack.calls import CallGuard

        self._calls = CallGuard(
            self.write, settings.timeout, self.connection.region, self.connection.endpoint_url
        )
        from pytest_cloudstack.lint import start_lint

        # cfn-lint in a child from now on: it overlaps collection
        self._lint = start_lint(settings, self.connection.region)
        if self._lint is not None:
            self._exit.callback(self._lint.cancel)
        self._exit.enter_context(export_stack_name(self.name, settings.env_names))
        if settings.target.kind is not TargetKind.LOCAL and not settings.share:
            # One session per stack name on this machine (a shared stack has many by design).
            from pytest_cloudstack.locking import StackLock

            scope = f"{self.connection.endpoint_url or 'aws'}|{self.connection.profile}|{self.connection.region}"
            self._exit.enter_context(StackLock(self.name, scope))

    def _gate(self, source: Path | dict[str, Any]) -> None:
        """Stop on cfn-lint's errors (and warnings, if asked) before anything is packaged."""
        from pytest_cloudstack.lint import gate

        assert self.connection is not None
        gate(source, self.settings, self.connection.region, self._lint, self.write)

    def _connect(self) -> Connection:
        settings = self.settings
        hook = self.config.hook.pytest_cloudstack_boto_session

        def on_session(session: Any) -> None:
            hook(session=session)

        if settings.target.kind is TargetKind.LOCAL:
            from pytest_cloudstack.local.process import EmulatorProcess

            region = settings.region or EMULATOR_REGION
            emulator = self._exit.enter_context(
                EmulatorProcess(settings.local_packages, warm=settings.warm_start)
            )
            self._emulator = emulator
            self._exit.enter_context(pointed_at(emulator.url, region))
            return Connection("local", region, emulator.url, None, on_session)
        connection = remote_connection(settings, on_session)
        if connection.endpoint_url:
            # Code under test reaches the same endpoint as the plugin, without any change.
            self._exit.enter_context(pointed_at(connection.endpoint_url, connection.region))
        return connection

    def _template_label(self) -> str:
        from pytest_cloudstack.template import find_default_template

        path = self.settings.template
        if path is None:
            found = find_default_template(self.settings.rootdir)
            if found is None:
                return "(none: no template.yaml, template.yml or template.json at rootdir)"
            return f"{found.name} (default, at rootdir)"
        with contextlib.suppress(ValueError):
            return str(path.relative_to(self.settings.rootdir))
        return str(path)

    def header(self) -> str:
        """The report header line: effective target, region, stack, template and modes."""
        assert self.connection is not None
        keep = self.settings.keep.value
        reuse = "on" if self.settings.reuse else "off"
        target = self.connection.target
        if self.settings.target.kind is TargetKind.LOCAL:
            target = f"local (embedded emulator at {self.connection.endpoint_url})"
        return (
            f"cloudstack: target {target}, region {self.connection.region}, stack {self.name}, "
            f"template {self.template_label}, keep {keep}, reuse {reuse}"
        )

    # -- deploy ---------------------------------------------------------------------------------

    def ensure_deployed(self) -> Stack:
        """Deploy on the first call; later calls return the same stack or raise the same error."""
        if not self._deployed:
            self._deployed = True
            try:
                with self._calls.deadline("the deploy"):
                    self.stack = self._deploy()
            except ServiceError as error:  # no answer, no connection, a web page: name the stack
                self._deploy_failed(DeployError(self.name, str(error)))
            except CloudStackError as error:
                self._deploy_failed(error)
            except Exception as error:
                if not is_service_error(error):
                    self.deploy_unfinished = f"it crashed: {type(error).__name__}: {error}"
                    raise
                # An unreachable endpoint, an unexpected service answer: readable, not a
                # traceback through our internals.
                assert self.connection is not None
                why = reason(error, self.connection.region, self.connection.endpoint_url)
                self._deploy_failed(DeployError(self.name, why))
            except BaseException as error:  # Ctrl-C, SIGTERM; a hook's pytest.exit or skip
                self.deploy_unfinished = (
                    "it was interrupted"
                    if isinstance(error, KeyboardInterrupt)
                    else f"it ended on {type(error).__name__}"
                )
                raise
            else:
                self._warn_about_expired_stacks()
                self._record_properties()
        if self.deploy_error is not None:
            raise self.deploy_error
        if self._emulator is not None:
            self._emulator.check_alive()  # each test that needs the stack: is it still there?
        assert self.stack is not None
        return self.stack

    def emulator_pid(self) -> int | None:
        """The ``local`` emulator's process ID (for xdist workers to name it), or None."""
        process = self._emulator.process if self._emulator is not None else None
        return process.pid if process is not None else None

    def emulator_death(self) -> str | None:
        """What happened to the ``local`` emulator if it died mid-session; None otherwise."""
        return self._emulator.death() if self._emulator is not None else None

    def _deploy_failed(self, error: CloudStackError) -> None:
        from pytest_cloudstack.reporting import failure_file

        self.deploy_error = error
        self.write(str(error))
        if isinstance(error, DeployError):
            path = failure_file(self.config, error)
            if path is not None:
                self.failure_path = path
                self.write(f"deploy failure summary written to {path}")

    def _record_properties(self) -> None:
        from pytest_cloudstack.reporting import junit_properties

        assert self.connection is not None
        junit_properties(
            self.config,
            {
                "cloudstack_stack": self.name,
                "cloudstack_target": self.connection.target,
                "cloudstack_region": self.connection.region,
                "cloudstack_deploy_seconds": f"{self.deploy_seconds:.1f}",
                "cloudstack_deploy_action": self.deploy_action,
            },
        )

    def _warn_about_expired_stacks(self) -> None:
        """One DescribeStacks page: say (never delete) which stacks of this prefix have expired."""
        if self.settings.target.kind is TargetKind.LOCAL or self._operations is None:
            return
        from datetime import datetime, timezone

        from pytest_cloudstack.sweep import expired_names

        try:
            names = expired_names(
                self._operations.cloudformation,
                self.settings.prefix,
                datetime.now(timezone.utc),
                exclude=self.name,
            )
        except Exception:  # a warning must never fail a session
            return
        if names:
            many = len(names) > 1
            count = f"{len(names)} stacks" if many else "1 stack"
            verb = "are past their" if many else "is past its"
            self.write(
                f"{count} of project {self.settings.prefix!r} {verb} expiry "
                f"({', '.join(names[:10])}): delete with pytest --cloud-stack-sweep"
            )

    def _deploy(self) -> Stack:
        assert self.connection is not None
        request = self._prepare()
        previous = self._prepare_previous(request) if self.settings.upgrade_from else None
        sharing = self.settings.share and self.settings.target.kind is not TargetKind.LOCAL
        if sharing:
            joined = self._claim_shared_stack(request)
            if joined is not None:
                return joined
        elif self.settings.target.kind is not TargetKind.LOCAL:
            from pytest_cloudstack.lease import StackLease

            # Across machines (the file lock covers this one); released after the teardown.
            ssm = replace(self.connection, guard=self._calls).client("ssm", self._session)
            lease = self._exit.enter_context(StackLease(ssm, self.name, self.run_id, self.write))
            self._operations.orphaned_run = lease.orphaned_run
        if previous is not None:
            self._deploy_previous(previous, request)
        upgrading = previous is not None
        try:
            outcome = self._operations.deploy(
                request, reuse=self.settings.reuse or upgrading or sharing
            )
        except CloudStackError as error:
            if self._share is not None:
                self._share.deploy_failed(str(error))
            raise
        if self._share is not None:
            self._share.deployed()
        self.deploy_action, self.deploy_seconds = outcome.action, outcome.seconds
        self.write(f"stack {self.name} {outcome.action} in {outcome.seconds:.1f}s")
        description = describe_stack(
            self.connection, self._operations.cloudformation, outcome.stack_id, outcome.description
        )
        if self.settings.target.kind is TargetKind.LOCAL:
            from pytest_cloudstack.local import fidelity

            listed = [logical for logical in description.resources if "/" not in logical]
            self.fidelity = fidelity.line(fidelity.report(self._template_body, listed))
            if self.fidelity:
                self.write(self.fidelity)
        stack = Stack(description)
        self.config.hook.pytest_cloudstack_deployed(stack=stack)
        return stack

    def _claim_shared_stack(self, request: DeployRequest) -> Stack | None:
        """Register as a user of the shared stack; the joined stack, or None: deploy it."""
        from pytest_cloudstack.naming import COMMIT_TAG, HASH_TAG
        from pytest_cloudstack.share import SharedStack, claim_stack

        assert self.connection is not None
        started = time.monotonic()
        share = SharedStack(
            replace(self.connection, guard=self._calls).client("ssm", self._session),
            self.name,
            self.run_id,
            request.tags.get(HASH_TAG, ""),
            request.tags.get(COMMIT_TAG, ""),
            self.write,
            self.settings.timeout,
        )
        self._share = self._exit.enter_context(share)
        joined = claim_stack(share, self._operations, self.connection, self.write, started)
        if joined is None:
            return None
        self.deploy_action, self.deploy_seconds = "joined", joined.seconds
        stack = Stack(joined.description)
        self.config.hook.pytest_cloudstack_deployed(stack=stack)
        return stack

    def plan(self) -> None:
        """``--cloud-stack-plan``: show what a deploy would change; change nothing."""
        from pytest_cloudstack.plan import plan

        with self._calls.deadline("the plan"):
            request = self._prepare()
            if self.settings.upgrade_from:
                # What the update from REF would replace or delete, computed here: nothing
                # deployed.
                self._prepare_previous(request, report_only=True)
                return
            plan(self._operations, request, self.write)

    # -- the upgrade path (--cloud-stack-upgrade-from) -------------------------------------------

    def _prepare_previous(
        self, request: DeployRequest, report_only: bool = False
    ) -> DeployRequest | None:
        """REF's deploy request, after checking what updating it to ``request`` would destroy."""
        from pytest_cloudstack.upgrade_path import prepare_previous

        assert self.connection is not None
        return prepare_previous(
            request,
            self._template_source(),
            self.settings,
            self._prepare_other,
            self.connection.region,
            self.write,
            report_only,
        )

    def _prepare_other(self, source: Path, settings: Settings) -> DeployRequest:
        """Another version of the project's request (REF's): the working tree's packaging state
        is what the session reports, so it is kept; REF's is transient."""
        kept = (self.retained, self.artifacts, self._operations, self._template_body)
        request = self._prepare(source, settings)
        self.retained, self.artifacts, self._operations, self._template_body = kept
        return request

    def _deploy_previous(self, previous: DeployRequest, request: DeployRequest) -> None:
        """Create the stack from REF's template, let the suite seed its data, and on AWS ask
        CloudFormation's change set too before the update to ``request``."""
        from pytest_cloudstack.upgrade_path import deploy_previous

        assert self.connection is not None
        deploy_previous(
            self._operations,
            self.connection,
            previous,
            request,
            self.settings,
            self.config.hook.pytest_cloudstack_before_upgrade,
            self.write,
        )

    def _prepare(
        self, source: Path | None = None, settings: Settings | None = None
    ) -> DeployRequest:
        """Everything a deploy needs, checked, before the stack is touched.

        Without arguments: the session's template. With them: another version of the project
        (REF's, for the upgrade path), which is not linted: only the working tree is gated.
        """
        from pytest_cloudstack.deploy import DeployRequest, StackOperations, request_hash
        from pytest_cloudstack.template import load_template, resolve_parameters

        assert self.connection is not None
        hook = self.config.hook
        if source is None or settings is None:
            settings, session_source = self.settings, self._template_source()
            template = load_template(session_source)
            self._gate(session_source)
        else:
            template = load_template(source)
        self.retained = retained_resources(template.body)
        parameters = dict(settings.parameters)
        hook.pytest_cloudstack_parameters(config=self.config, parameters=parameters)
        parameters.update(settings.parameter_overrides)
        # REF's template (upgrade path), or one of several stacks: each takes the parameters
        # its template declares
        if settings is not self.settings or settings.stacks:
            parameters = {k: v for k, v in parameters.items() if k in template.parameters()}
        parameters = resolve_parameters(template, parameters)
        user_tags = dict(settings.tags)
        hook.pytest_cloudstack_tags(config=self.config, tags=user_tags)
        session = self._session = self.connection.session()
        # The run's own calls are bounded by --cloud-stack-timeout; the tests' handles are not.
        guarded = replace(self.connection, guard=self._calls)
        cloudformation, s3 = (
            guarded.client("cloudformation", session),
            guarded.client("s3", session),
        )
        self._check_account(guarded, session)
        if self._emulator is not None:
            # Started at configure: a cold emulator's imports overlap collection and all of the
            # above; from here on the emulator is called.
            self._emulator.wait_ready()
        # Local paths, SAM, CDK assets, large templates. After the account check (the artifact
        # bucket may be created), and before the stack is touched: bad input stops here.
        from pytest_cloudstack.packaging import package_for_run

        packaged = package_for_run(template, settings, guarded, session, parameters, self.write)
        self.artifacts = (packaged.artifacts, packaged.uploaded)
        from pytest_cloudstack.limits import limit_warnings

        for warning in limit_warnings(packaged.body, packaged.template_body, packaged.archives):
            self.write(f"warning: {warning}")
        self._template_body = packaged.body
        body, capabilities = packaged.template_body, packaged.capabilities
        digest = request_hash(body, parameters, user_tags, capabilities)
        tags = naming.stack_tags(
            list(user_tags.items()), self.branch, digest, self.run_id, project=settings.prefix
        )
        self._operations = StackOperations(
            cloudformation,
            s3,
            self.write,
            synchronous=settings.target.kind is TargetKind.LOCAL,
            run_id=self.run_id,
            verbosity=int(self.config.option.verbose),
            cli=self.connection.cli_command,
            calls=self._calls,
        )
        return DeployRequest(
            name=self.name,
            template_body=body,
            template_url=packaged.template_url,
            parameters=parameters,
            capabilities=capabilities,
            tags=tags,
            timeout=settings.timeout,
            keep_failed_resources=settings.keep is not Keep.NEVER,
        )

    def _template_source(self) -> Path | dict[str, Any]:
        from pytest_cloudstack.template import find_default_template

        from_hook = None
        if self.shared is None:
            from_hook = self.config.hook.pytest_cloudstack_template(config=self.config)
        if from_hook is not None:
            self.template_label = "(from the pytest_cloudstack_template hook)"
            return hook_template(self.config, from_hook)
        if self.settings.template is not None:
            return self.settings.template
        found = find_default_template(self.settings.rootdir)
        if found is None:
            raise TemplateError(
                f"no template: none of template.yaml, template.yml, template.json is in "
                f"{self.settings.rootdir}. Pass --cloud-stack-template PATH or set ini "
                "cloud_stack_template"
            )
        return found

    def _check_account(self, connection: Connection, session: Any) -> None:
        """On real AWS: credentials exist, and the account is allowed, before anything changes.

        Once per session: another stack of it (``shared``) uses the first one's connection,
        which was checked when the first stack deployed; REF's version uses this run's."""
        if self.settings.target.kind is not TargetKind.AWS or self.shared is not None:
            return
        if self._account_checked:
            return
        from pytest_cloudstack.accounts import check_account

        check_account(connection, session, self.settings.allowed_accounts)
        self._account_checked = True

    # -- teardown -------------------------------------------------------------------------------

    def finish(self, tests_failed: bool = False) -> None:
        """Delete (or keep) the stack, then undo everything ``start`` did, in reverse order."""
        if self._finished:
            return
        self._finished = True
        try:
            self._teardown(tests_failed)
        finally:
            self._exit.close()
        if self._deployed:
            from pytest_cloudstack.reporting import github_step_summary

            github_step_summary(self.summary_lines())

    def _teardown(self, tests_failed: bool) -> None:
        """Run the teardown hook, then delete (or keep) the stack. Never raises: whatever the
        hook or the service does, the report says what happened and how to finish by hand."""
        from pytest_cloudstack.signals import TeardownGuard

        operations = self._operations
        if operations is None:
            return
        death = self.emulator_death()
        if death is not None:  # its stacks died with it: there is nothing to delete
            self.teardown_report = TeardownReport(
                "gone", f"stack {self.name} went with it: {death}"
            )
            self.write(self.teardown_report.detail)
            return
        keep = self.settings.keep is Keep.ALWAYS or (
            self.settings.keep is Keep.FAILED and (tests_failed or self.deploy_error is not None)
        )
        started = time.monotonic()
        unanswered: tuple[type[Exception], ...] = (CloudStackError, *boto_errors())
        try:
            stack_id = operations.stack_id or operations.find_own_stack(self.name)
        except unanswered as error:
            # A create was tried, and its stack can't be looked up (no answer, a web page): it
            # may exist.
            self.teardown_report = TeardownReport(
                "failed",
                f"could not check whether stack {self.name} was left behind: "
                f"{service_message(error)}\nif it exists, {self._delete_command()}",
            )
            self.write(self.teardown_report.detail)
            return
        if stack_id is None:
            return
        try:
            # From the hook on: one interrupt warns, a second abandons (as documented).
            with TeardownGuard(self.write, f"deleting stack {self.name}"):
                others = [] if keep or self._share is None else self._share.last_out()
                self._teardown_hook(keep or bool(others))
                if others:
                    self.teardown_report = TeardownReport(
                        "kept",
                        f"stack {self.name} left to {len(others)} other session(s) sharing it "
                        f"({', '.join(others[:5])}): the last one out deletes it",
                    )
                    self.write(self.teardown_report.detail)
                    return
                if keep:
                    self.teardown_report = TeardownReport("kept", self._kept_detail())
                    self.write(self.teardown_report.detail)
                    return
                self.write(f"deleting stack {self.name}")
                started = time.monotonic()
                left = operations.delete(
                    stack_id, self.settings.timeout, force=self.settings.force_delete
                )
        except KeyboardInterrupt:
            self.teardown_report = TeardownReport(
                "failed", f"deleting stack {self.name} abandoned; {self._delete_command()}"
            )
        except CloudStackError as error:
            self.teardown_report = TeardownReport("failed", f"{error}\n{self._delete_command()}")
        except boto_errors() as error:
            self.teardown_report = TeardownReport(
                "failed",
                f"deleting stack {self.name!r} failed: {service_message(error)}\n"
                f"{self._delete_command()}",
            )
        except Exception as error:  # an answer nobody foresaw: the session still ends cleanly
            self.teardown_report = TeardownReport(
                "failed",
                f"deleting stack {self.name!r} failed on an unexpected answer "
                f"({type(error).__name__}: {error})\n{self._delete_command()}",
            )
        else:
            if self._share is not None:
                with contextlib.suppress(*boto_errors()):
                    self._share.deleted()
            seconds = time.monotonic() - started
            detail = f"stack {self.name} deleted in {seconds:.1f}s"
            if left:
                detail += "; forced: left behind " + ", ".join(left)
            self.teardown_report = TeardownReport("deleted", detail + self._retained_detail())
        self.write(self.teardown_report.detail)

    def _teardown_hook(self, keep: bool) -> None:
        """``pytest_cloudstack_teardown``: an error in it is the user's, shown with its
        traceback; it fails the run but never stops the delete."""
        if self.stack is None:
            return
        try:
            self.config.hook.pytest_cloudstack_teardown(stack=self.stack, keep=keep)
        except Exception as error:
            self.hook_error = f"{type(error).__name__}: {error}"
            self.write(
                f"the pytest_cloudstack_teardown hook raised {type(error).__name__}; "
                f"the teardown goes on:\n{user_traceback(error)}"
            )

    def teardown_failed(self) -> bool:
        """The stack could not be deleted, or the teardown hook raised: the run must fail."""
        report = self.teardown_report
        return bool(self.hook_error) or (report is not None and report.outcome == "failed")

    def _retained_detail(self) -> str:
        return retained_detail(self.retained, self.stack)

    def _delete_command(self) -> str:
        assert self.connection is not None
        return delete_command(self.connection, self.name)

    def _kept_detail(self) -> str:
        assert self.connection is not None
        local = self.settings.target.kind is TargetKind.LOCAL
        return kept_detail(self.connection, self.name, local)

    def summary_lines(self) -> list[str]:
        """The terminal summary: where, what was deployed, what happened at the end."""
        started = self._emulator.start_kind if self._emulator is not None else ""
        return summary_lines(self, self._deployed, started)

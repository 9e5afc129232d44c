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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cloudstack import naming
from pytest_cloudstack.connection import EMULATOR_REGION, Connection, remote_connection
from pytest_cloudstack.environment import export_stack_name, pointed_at
from pytest_cloudstack.errors import CloudStackError, DeployError, TemplateError
from pytest_cloudstack.responses import service_message
from pytest_cloudstack.settings import Keep, Settings, TargetKind
from pytest_cloudstack.stack import Stack, describe_stack

if TYPE_CHECKING:
    from pytest_cloudstack.deploy import DeployRequest

Writer = Callable[[str], None]


@dataclass
class TeardownReport:
    """What happened to the stack at the end: ``deleted``, ``kept`` or ``failed``."""

    outcome: str
    detail: str


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
        self._deployed = False
        self._finished = False
        #: tags the stacks this run creates, so that it never mistakes another run's for its own
        self.run_id = uuid.uuid4().hex
        #: logical IDs with DeletionPolicy Retain: left behind on purpose by the delete
        self.retained: tuple[str, ...] = ()
        self.failure_path: Path | None = None
        #: packaged artifacts: (how many the template references, how many were uploaded)
        self.artifacts = (0, 0)
        self._operations: Any = None
        self._session: Any = None
        self._emulator: Any = None
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
        self.connection = self.shared or self._connect()
        self._exit.enter_context(export_stack_name(self.name, settings.env_names))
        if settings.target.kind is not TargetKind.LOCAL:
            from pytest_cloudstack.locking import StackLock

            scope = f"{self.connection.endpoint_url or 'aws'}|{self.connection.profile}|{self.connection.region}"
            self._exit.enter_context(StackLock(self.name, scope))

    def _connect(self) -> Connection:
        settings = self.settings
        hook = self.config.hook.pytest_cloudstack_boto_session

        def on_session(session: Any) -> None:
            hook(session=session)

        if settings.target.kind is TargetKind.LOCAL:
            from pytest_cloudstack.local.process import EmulatorProcess

            region = settings.region or EMULATOR_REGION
            emulator = self._exit.enter_context(EmulatorProcess(settings.local_packages))
            self._emulator = emulator
            self._exit.enter_context(pointed_at(emulator.url, region))
            return Connection("local", region, emulator.url, None, on_session)
        connection = remote_connection(settings, on_session)
        if connection.endpoint_url:
            # Code under test reaches the same endpoint as the plugin, without any change.
            self._exit.enter_context(pointed_at(connection.endpoint_url, connection.region))
        return connection

    def _template_label(self) -> str:
        path = self.settings.template
        if path is None:
            return "(default template.yaml at rootdir)"
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
                self.stack = self._deploy()
            except CloudStackError as error:
                self._deploy_failed(error)
            except Exception as error:
                if not _is_boto_error(error):
                    raise
                # An unreachable endpoint, an unexpected service answer: readable, not a
                # traceback through our internals.
                self._deploy_failed(DeployError(self.name, service_message(error)))
            else:
                self._warn_about_expired_stacks()
                self._record_properties()
        if self.deploy_error is not None:
            raise self.deploy_error
        assert self.stack is not None
        return self.stack

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
                f"{count} of prefix {self.settings.prefix!r} {verb} expiry "
                f"({', '.join(names[:10])}): delete with pytest --cloud-stack-sweep"
            )

    def _deploy(self) -> Stack:
        assert self.connection is not None
        if self._emulator is not None:
            self._emulator.wait_ready()  # started at configure; its import overlaps collection
        request = self._prepare()
        if self.settings.target.kind is not TargetKind.LOCAL:
            from pytest_cloudstack.lease import StackLease

            # Across machines (the file lock covers this one); released after the teardown.
            ssm = self.connection.client("ssm", self._session)
            self._exit.enter_context(StackLease(ssm, self.name, self.run_id, self.write))
        outcome = self._operations.deploy(request, reuse=self.settings.reuse)
        self.deploy_action, self.deploy_seconds = outcome.action, outcome.seconds
        self.write(f"stack {self.name} {outcome.action} in {outcome.seconds:.1f}s")
        description = describe_stack(
            self.connection, self._operations.cloudformation, outcome.stack_id, outcome.description
        )
        stack = Stack(description)
        self.config.hook.pytest_cloudstack_deployed(stack=stack)
        return stack

    def plan(self) -> None:
        """``--cloud-stack-plan``: show what a deploy would change; change nothing."""
        from pytest_cloudstack.plan import plan

        request = self._prepare()
        plan(self._operations, request, self.write)

    def _prepare(self) -> DeployRequest:
        """Everything a deploy needs, checked, before the stack is touched."""
        from pytest_cloudstack.deploy import DeployRequest, StackOperations, request_hash
        from pytest_cloudstack.template import load_template, resolve_parameters

        assert self.connection is not None
        settings, hook = self.settings, self.config.hook
        template = load_template(self._template_source())
        self.retained = retained_resources(template.body)
        parameters = dict(settings.parameters)
        hook.pytest_cloudstack_parameters(config=self.config, parameters=parameters)
        parameters.update(settings.parameter_overrides)
        if settings.stacks:  # several stacks: each takes the parameters its template declares
            parameters = {k: v for k, v in parameters.items() if k in template.parameters()}
        parameters = resolve_parameters(template, parameters)
        user_tags = dict(settings.tags)
        hook.pytest_cloudstack_tags(config=self.config, tags=user_tags)
        session = self._session = self.connection.session()
        self._check_account(session)
        # Local paths, SAM, CDK assets, large templates. After the account check (the artifact
        # bucket may be created), and before the stack is touched: bad input stops here.
        from pytest_cloudstack.packaging import package_for_run

        packaged = package_for_run(
            template, settings, self.connection, session, parameters, self.write
        )
        self.artifacts = (packaged.artifacts, packaged.uploaded)
        body, capabilities = packaged.template_body, packaged.capabilities
        digest = request_hash(body, parameters, user_tags, capabilities)
        tags = naming.stack_tags(list(user_tags.items()), self.branch, digest, self.run_id)
        self._operations = StackOperations(
            self.connection.client("cloudformation", session),
            self.connection.client("s3", session),
            self.write,
            synchronous=settings.target.kind is TargetKind.LOCAL,
            run_id=self.run_id,
            verbosity=int(self.config.option.verbose),
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
            return from_hook if isinstance(from_hook, dict) else Path(from_hook)
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

    def _check_account(self, session: Any) -> None:
        """On real AWS: credentials exist, and the account is allowed, before anything changes."""
        if self.settings.target.kind is not TargetKind.AWS:
            return
        from pytest_cloudstack.accounts import check_account

        assert self.connection is not None
        check_account(self.connection, session, self.settings.allowed_accounts)

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
        from pytest_cloudstack.signals import TeardownGuard

        operations = self._operations
        if operations is None:
            return
        stack_id = operations.stack_id or operations.find_own_stack(self.name)
        if stack_id is None:
            return
        keep = self.settings.keep is Keep.ALWAYS or (
            self.settings.keep is Keep.FAILED and (tests_failed or self.deploy_error is not None)
        )
        if self.stack is not None:
            self.config.hook.pytest_cloudstack_teardown(stack=self.stack, keep=keep)
        if keep:
            self.teardown_report = TeardownReport("kept", self._kept_detail())
            self.write(self.teardown_report.detail)
            return
        self.write(f"deleting stack {self.name}")
        started = time.monotonic()
        try:
            with TeardownGuard(self.write, f"deleting stack {self.name}"):
                left = operations.delete(
                    stack_id, self.settings.timeout, force=self.settings.force_delete
                )
        except KeyboardInterrupt:
            self.teardown_report = TeardownReport(
                "failed", f"deleting stack {self.name} abandoned; {self._delete_command()}"
            )
        except CloudStackError as error:
            self.teardown_report = TeardownReport("failed", f"{error}\n{self._delete_command()}")
        except Exception as error:  # the session must end cleanly: say what happened, keep going
            self.teardown_report = TeardownReport(
                "failed",
                f"deleting stack {self.name!r} failed: {service_message(error)}\n"
                f"{self._delete_command()}",
            )
        else:
            seconds = time.monotonic() - started
            detail = f"stack {self.name} deleted in {seconds:.1f}s"
            if left:
                detail += "; forced: left behind " + ", ".join(left)
            self.teardown_report = TeardownReport("deleted", detail + self._retained_detail())
        self.write(self.teardown_report.detail)

    def _retained_detail(self) -> str:
        if not self.retained:
            return ""
        resources = self.stack.resources if self.stack is not None else {}
        described = [
            f"{logical} ({resources[logical].type} {resources[logical].physical_id})"
            if logical in resources
            else logical
            for logical in self.retained
        ]
        return "\nleft behind on purpose (DeletionPolicy Retain): " + ", ".join(described)

    def _delete_command(self) -> str:
        assert self.connection is not None
        command = (
            f"aws cloudformation delete-stack --stack-name {self.name} "
            f"--region {self.connection.region}"
        )
        if self.connection.endpoint_url:
            command += f" --endpoint-url {self.connection.endpoint_url}"
        if self.connection.profile:
            command += f" --profile {self.connection.profile}"
        return f"delete it by hand with: {command}"

    def _kept_detail(self) -> str:
        if self.settings.target.kind is TargetKind.LOCAL:
            return (
                f"stack {self.name} kept, but the embedded emulator stops with this session, "
                "so it goes with it; keep is meant for aws and endpoint targets"
            )
        return f"stack {self.name} kept; {self._delete_command().replace(' by hand', '')}"

    def summary_lines(self) -> list[str]:
        """The terminal summary: where, what was deployed, what happened at the end."""
        assert self.connection is not None
        lines = [
            f"target {self.connection.target}, region {self.connection.region}, stack {self.name}"
        ]
        if not self._deployed:
            lines.append("not deployed: no selected test needed the stack")
        elif self.deploy_error is not None:
            lines.append(str(self.deploy_error))
            events = getattr(self.deploy_error, "events", ())
            if events:
                lines.append("last stack events:")
                lines.extend(events)
            if self.failure_path is not None:
                lines.append(f"failure summary: {self.failure_path}")
        elif self.deploy_action == "unchanged":
            lines.append(
                f"reused, unchanged ({self.deploy_seconds:.1f}s); "
                f"{len(self.stack.resources) if self.stack else 0} resources"
            )
        else:
            lines.append(
                f"{self.deploy_action} in {self.deploy_seconds:.1f}s; "
                f"{len(self.stack.resources) if self.stack else 0} resources"
            )
        total, uploaded = self.artifacts
        if total:
            lines.append(f"artifacts: {uploaded} uploaded, {total - uploaded} reused")
        if self.teardown_report is not None:
            lines.append(self.teardown_report.detail)
        return lines


def retained_resources(body: dict[str, Any]) -> tuple[str, ...]:
    """Logical IDs that a stack delete leaves behind on purpose."""
    resources = body.get("Resources", {})
    return tuple(
        logical
        for logical, resource in resources.items()
        if isinstance(resource, dict)
        and resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
    )


def _is_boto_error(error: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(error, BotoCoreError | ClientError)

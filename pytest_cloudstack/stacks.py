"""The session's stacks: one or several lifecycles, deployed in order, deleted in reverse.

Ini ``cloud_stack_stacks`` lists every stack of the session as ``KEY = PATH`` lines, in deploy
order (an app, then a test-harness stack that imports one of the app's exports, say). Each stack
is its own ``CloudStackRun`` (name, lock, lease, deploy, teardown); the first one owns what the
session shares (the emulator on ``local``, the connection, the exported environment) and the
others use its connection. The single-stack form (``cloud_stack_template``) is a set of one, so
both take the same path.

Names: the first stack keeps the session's name (``{prefix}-{branch}``); stack KEY is named as if
its prefix were ``{prefix}-{KEY}``, so it gets the same branch, hash and user parts, tags and
sweep (an explicit ``--cloud-stack-name NAME`` gives ``NAME-KEY``).

The set deploys when the first test needs any of its stacks: stack after stack, each only if the
ones before it succeeded, so a failure leaves the later ones untouched and every test that needs
the stacks errors with that failure. The teardown goes in reverse order and always reaches every
stack, whatever happened to the ones before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from pytest_cloudstack.errors import ConfigurationError, TemplateError
from pytest_cloudstack.run import CloudStackRun
from pytest_cloudstack.settings import Settings

if TYPE_CHECKING:
    from pytest_cloudstack.connection import Connection
    from pytest_cloudstack.stack import Stack

Writer = Callable[[str], None]

#: ``{stack:KEY}`` in a parameter value: the name of the session's stack KEY
_REFERENCE = re.compile(r"\{stack:([^}]*)\}")

#: the key of the one stack of a single-stack session (``cloud_stacks["default"]``)
DEFAULT_KEY = "default"


def member_settings(settings: Settings) -> list[tuple[str, Settings]]:
    """(key, the settings of that stack's lifecycle) for every stack, in deploy order."""
    if not settings.stacks:
        return [(DEFAULT_KEY, settings)]
    members = []
    for index, (key, template) in enumerate(settings.stacks):
        exported = tuple(env for env, owner in settings.env_keys if owner == key)
        if index == 0:
            member = dataclasses.replace(
                settings, template=template, env_names=(*settings.env_names, *exported)
            )
        else:
            member = dataclasses.replace(
                settings,
                template=template,
                prefix=f"{settings.prefix}-{key}",
                name=f"{settings.name}-{key}" if settings.name else None,
                env_names=exported,
            )
        members.append((key, member))
    return members


class StackSet:
    """Every stack lifecycle of the session, in order; what plugin.py and xdist.py talk to."""

    def __init__(self, config: pytest.Config, settings: Settings, write: Writer) -> None:
        self.config = config
        self.settings = settings
        self.write = write
        self.members = member_settings(settings)
        self.runs: dict[str, CloudStackRun] = {}

    # -- the first stack stands for the session where one name is wanted -----------------------

    @property
    def primary_key(self) -> str:
        return self.members[0][0]

    @property
    def primary(self) -> CloudStackRun:
        return self.runs[self.primary_key]

    @property
    def name(self) -> str:
        return self.primary.name

    @property
    def connection(self) -> Connection | None:
        return self.primary.connection

    # -- configure time -------------------------------------------------------------------------

    def start(self) -> None:
        """Start every lifecycle (names, locks, the emulator), or none of them."""
        if len(self.members) > 1:
            self._check_parameters()
        try:
            for key, member in self.members:
                shared = self.primary.connection if self.runs else None
                run = CloudStackRun(self.config, member, self.write, shared=shared)
                run.start()
                self.runs[key] = run
        except BaseException:
            self.finish()
            raise
        try:
            self._name_references()
        except ConfigurationError:
            self.finish()
            raise

    def _name_references(self) -> None:
        """``{stack:KEY}`` in a parameter value becomes stack KEY's name (known only now)."""
        names = {key: run.name for key, run in self.runs.items()}

        def substitute(value: str) -> str:
            def name_of(match: re.Match[str]) -> str:
                if match.group(1) not in names:
                    raise ConfigurationError(
                        f"template parameter value {value!r} names the stack {match.group(1)!r}, "
                        f"which is not one of this session's ({', '.join(names)})"
                    )
                return names[match.group(1)]

            return _REFERENCE.sub(name_of, value)

        for run in self.runs.values():
            settings = run.settings
            run.settings = dataclasses.replace(
                settings,
                parameters=tuple((k, substitute(v)) for k, v in settings.parameters),
                parameter_overrides=tuple(
                    (k, substitute(v)) for k, v in settings.parameter_overrides
                ),
            )

    def _check_parameters(self) -> None:
        """A template parameter from the ini or the command line that no stack declares is a
        mistake (a typo, most likely); each stack gets the ones its template declares."""
        from pytest_cloudstack.template import load_template

        declared: set[str] = set()
        for _, member in self.members:
            assert member.template is not None
            try:
                declared.update(load_template(member.template).parameters())
            except TemplateError:
                return  # the deploy reports a broken template, with its line
        given = [
            name for name, _ in (*self.settings.parameters, *self.settings.parameter_overrides)
        ]
        unknown = sorted({name for name in given if name not in declared})
        if unknown:
            raise ConfigurationError(
                f"template parameter {', '.join(unknown)} is declared by none of the stacks of "
                f"cloud_stack_stacks ({', '.join(key for key, _ in self.members)})"
            )

    def header(self) -> list[str]:
        """One report header line per stack."""
        lines = [run.header() for run in self.runs.values()]
        if len(lines) > 1:
            lines = [
                line.replace("cloudstack: ", f"cloudstack: [{key}] ", 1)
                for key, line in zip(self.runs, lines, strict=True)
            ]
        return lines

    # -- deploy ---------------------------------------------------------------------------------

    def ensure_deployed(self) -> Stack:
        """The first stack, once every stack of the session is deployed (or the failure)."""
        return self.ensure_all()[self.primary_key]

    def ensure_all(self) -> dict[str, Stack]:
        """Every stack by key, deployed in order on the first call; the first failure raised."""
        # In order, each only after the ones before it: a later stack may import their exports.
        # A failed run raises its error again on every call, so the later ones are never tried.
        return {key: run.ensure_deployed() for key, run in self.runs.items()}

    def plan(self) -> None:
        """``--cloud-stack-plan`` for every stack, in order."""
        for run in self.runs.values():
            run.plan()

    # -- teardown -------------------------------------------------------------------------------

    def finish(self, tests_failed: bool = False) -> None:
        """Tear every stack down, the last one first; every stack's teardown runs."""
        with contextlib.ExitStack() as teardowns:
            for run in self.runs.values():
                teardowns.callback(run.finish, tests_failed)

    def teardown_failed(self) -> bool:
        """A stack could not be deleted, or a teardown hook raised: the run must fail."""
        return any(run.teardown_failed() for run in self.runs.values())

    def emulator_death(self) -> str | None:
        """What happened to the ``local`` emulator (the first stack's, shared by all) if it died."""
        return self.primary.emulator_death() if self.runs else None

    def summary_lines(self) -> list[str]:
        """The terminal summary: each stack's lines, in order."""
        lines: list[str] = []
        failed_before: str | None = None
        for key, run in self.runs.items():
            own = run.summary_lines()
            if failed_before is not None and run.stack is None and run.deploy_error is None:
                own[1:2] = [f"not deployed: stack {failed_before!r} failed before it"]
            if run.deploy_error is not None and failed_before is None:
                failed_before = key
            lines.extend(own if len(self.runs) == 1 else [f"[{key}] {own[0]}", *own[1:]])
        return lines

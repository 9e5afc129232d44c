"""One stack shared by the sessions of a CI matrix: the first deploys, the others join, the last
one out deletes it (``cloud_stack_share``).

Built on SSM parameters, like the lease (``lease.py``), under ``/cloudstack/shares/<stack>/``:

- ``users/<run id>``: one per session using the stack, with its holder, expiry and process,
  renewed while the session runs. A session that dies stops renewing; a registration whose
  holder ran on this machine and is gone is stale at once (as a lease's).
- ``deployer``: who deploys or deletes the stack now, and what: the request hash and commit the
  stack is (being) deployed from, and a state, ``deploying`` -> ``ready`` (or ``failed``) ->
  ``deleting``. Created without overwrite, so exactly one session deploys; renewed by its
  holder while it deploys or deletes, so a holder that died is replaced.

A session joins a ``ready`` stack of the same request hash; waits (with progress lines) while
one deploys or deletes; refuses a stack that live users test with another template (another
commit pushed mid-run) rather than update it under them. At the end it unregisters, and if no
live user is left, it marks the stack ``deleting``, looks once more (a session that registered
meanwhile keeps the stack), and deletes it. ``claim_stack`` is a run's side of the arrival: claim,
then join the stack another session deployed, or deploy it.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pytest_cloudstack.errors import ConcurrentRunError, DeployError
from pytest_cloudstack.lease import decode_record, is_live, process_scope, process_start
from pytest_cloudstack.naming import current_user
from pytest_cloudstack.renewer import Renewer
from pytest_cloudstack.responses import error_code

if TYPE_CHECKING:
    from pytest_cloudstack.connection import Connection
    from pytest_cloudstack.deploy import StackOperations
    from pytest_cloudstack.stack import StackDescription

PREFIX = "/cloudstack/shares/"
TTL_ENV = "CLOUD_STACK_SHARE_TTL"
DEFAULT_TTL = 600.0
MAX_TTL = 7 * 24 * 3600.0
POLL_SECONDS = 1.0  # a waiting shard reads the deployer record this often (SSM allows ~40 reads/s)
HEARTBEAT_SECONDS = 15.0

Writer = Callable[[str], None]


def ttl() -> float:
    """How long a registration lives without renewal: ``CLOUD_STACK_SHARE_TTL`` seconds, from 1 s
    to a week; anything else (not a number, infinite) is the default, since the renewer waits a
    third of it and the expiry is a timestamp."""
    try:
        seconds = float(os.environ.get(TTL_ENV) or DEFAULT_TTL)
    except ValueError:
        return DEFAULT_TTL
    return min(max(seconds, 1.0), MAX_TTL) if math.isfinite(seconds) else DEFAULT_TTL


@dataclass(frozen=True)
class Claim:
    """What this session does with the shared stack: ``deploy`` it, or ``join`` it."""

    role: str
    deployer: str = ""  # who deployed it, for a joiner's line


class SharedStack:
    """This session's membership of a shared stack, for the session (a context manager)."""

    def __init__(
        self,
        ssm: Any,
        stack_name: str,
        run_id: str,
        request_hash: str,
        commit: str,
        write: Writer,
        timeout: float,
    ) -> None:
        self.ssm = ssm
        self.stack_name = stack_name
        self.run_id = run_id
        self.request_hash = request_hash
        self.commit = commit
        self.write = write
        self.timeout = timeout
        self.base = f"{PREFIX}{stack_name}/"
        self._holding_deployer = False
        self._holding_deletion = False
        self._registered = False
        self._state = ""
        self._renewer = Renewer("cloudstack-share", lambda: ttl() / 3, self._renew)
        #: renewals: a heartbeat on a background thread, not one of the run's bounded calls
        self._heartbeat_ssm = getattr(ssm, "unguarded", ssm)

    # -- membership -------------------------------------------------------------------------------

    def __enter__(self) -> SharedStack:
        self._put(f"users/{self.run_id}", self._record(), overwrite=True)
        self._registered = True
        self._renewer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._renewer.stop()
        self._unregister()
        if self._holding_deployer and self._state in ("deploying", "deleting"):
            # Dying half-way: the next session must not wait for a holder that left.
            self._delete("deployer")
        if self._holding_deletion:
            self._delete("deleting")

    # -- arriving ---------------------------------------------------------------------------------

    def claim(self, stack_status: Callable[[], str]) -> Claim:
        """Deploy the stack, or join it once it is ready; waits, with progress, meanwhile."""
        started = time.monotonic()
        last_said = 0.0
        while True:
            if self._take_deployer(overwrite=False):
                return Claim("deploy")
            record = self._get("deployer")
            if record is None:
                time.sleep(0.1)
                continue  # deleted between our attempt and the read: try again
            state = str(record.get("state", ""))
            same = record.get("hash") == self.request_hash
            if state in ("ready", "failed"):
                status = stack_status()
                if same and state == "ready" and status:
                    return Claim("join", str(record.get("holder", "")))
                # Ready on paper, but the stack is gone (swept): deploy it, whoever registered.
                others = self.others_live() if status else []
                if same and others:
                    raise DeployError(
                        self.stack_name,
                        f"the session that deployed this shared stack "
                        f"({record.get('holder', 'unknown')}) failed: "
                        f"{record.get('reason') or 'no reason recorded'}",
                    )
                if others:
                    raise ConcurrentRunError(
                        f"stack {self.stack_name!r} is shared by sessions testing commit "
                        f"{record.get('commit') or '?'} with another template or parameters "
                        f"than this session's (commit {self.commit or '?'}): refusing to join "
                        "rather than update it under them. Re-run once they finish, or give "
                        "this session its own stack with --cloud-stack-name"
                    )
                # Nobody uses it: this session deploys (updates) it as its own template says.
                if self._take_deployer(overwrite=True, replacing=record):
                    return Claim("deploy")
                continue
            if not is_live(record):  # its deployer or deleter died half-way
                if self._take_deployer(overwrite=True, replacing=record):
                    return Claim("deploy")
                continue
            waited = time.monotonic() - started
            if waited > self.timeout:
                raise DeployError(
                    self.stack_name,
                    f"waited {waited:.0f}s for {record.get('holder', 'another session')} "
                    f"{state} the shared stack; --cloud-stack-timeout is {self.timeout:.0f}s",
                )
            if waited - last_said >= HEARTBEAT_SECONDS or last_said == 0.0:
                last_said = waited or 0.001
                self.write(
                    f"waiting for {record.get('holder', 'another session')} "
                    f"{state} {self.stack_name}: {stack_status() or 'no stack yet'}, "
                    f"{waited:.0f} s"
                )
            time.sleep(POLL_SECONDS)

    def deployed(self) -> None:
        """The stack is ready: waiting sessions may join it."""
        self._set_state("ready")

    def deploy_failed(self, reason: str) -> None:
        """Waiting sessions fail with this session's reason instead of waiting."""
        self._set_state("failed", reason=reason[:2000])

    # -- leaving ----------------------------------------------------------------------------------

    def others_live(self) -> list[str]:
        """The holders of the other live registrations."""
        return [
            str(record.get("holder", "unknown"))
            for record in self.users()
            if record.get("run_id") != self.run_id and is_live(record)
        ]

    def last_out(self) -> list[str]:
        """Empty when this session should delete the stack (it is then marked ``deleting``);
        else the sessions still using it (or deleting it), and the stack is left to them.

        A session unregisters before it looks: of sessions ending at the same moment, the last
        to unregister finds nobody, so the stack is never left to sessions that all left. Of
        those that find nobody, the one that creates the ``deleting`` record deletes.
        """
        self._unregister()
        others = self.others_live()
        if others:
            return others
        if not self._claim_deletion():
            return ["another session, deleting it now"]
        self._take_deployer(overwrite=True, state="deleting")
        # A session that registered before seeing "deleting" keeps the stack.
        others = self.others_live()
        if others:
            self._set_state("ready")
            self._holding_deployer = False
            self._delete("deleting")
            self._holding_deletion = False
        return others

    def _claim_deletion(self) -> bool:
        """Create the ``deleting`` record; an existing one whose holder is gone is taken over."""
        from botocore.exceptions import ClientError

        try:
            self._put("deleting", self._record(), overwrite=False)
        except ClientError as error:
            if error_code(error) != "ParameterAlreadyExists":
                raise
            holder = self._get("deleting") or {}
            if is_live(holder):
                return False
            self._put("deleting", self._record(), overwrite=True)
            time.sleep(0.2)
            if (self._get("deleting") or {}).get("run_id") != self.run_id:
                return False
        self._holding_deletion = True
        return True

    def _unregister(self) -> None:
        self._registered = False  # before the delete: the renewer must not put it back
        self._delete(f"users/{self.run_id}")

    def deleted(self) -> None:
        """The stack is gone: the next session to arrive deploys again. The registrations of
        sessions that died (SIGKILL, a cancelled job) go with it."""
        for record in self.users():
            if record.get("run_id") != self.run_id and not is_live(record):
                self._delete(f"users/{record.get('run_id')}")
        self._delete("deployer")
        self._delete("deleting")
        self._holding_deployer = self._holding_deletion = False

    # -- SSM ----------------------------------------------------------------------------------------

    def _take_deployer(
        self,
        overwrite: bool,
        replacing: dict[str, Any] | None = None,
        state: str = "deploying",
    ) -> bool:
        from botocore.exceptions import ClientError

        record = {**self._record(), "state": state, "hash": self.request_hash}
        try:
            self._put("deployer", record, overwrite=overwrite)
        except ClientError as error:
            if error_code(error) == "ParameterAlreadyExists":
                return False
            raise
        if overwrite:
            # Two sessions may replace a dead holder at once: the last write wins, the other waits.
            time.sleep(0.2)
            found = self._get("deployer") or {}
            if found.get("run_id") != self.run_id:
                return False
        if replacing is not None and not is_live(replacing):
            self.write(
                f"the session that was {replacing.get('state', '?')} {self.stack_name} "
                f"({replacing.get('holder', 'unknown')}) is gone: this session takes over"
            )
        self._holding_deployer, self._state = True, state
        return True

    def _set_state(self, state: str, **extra: str) -> None:
        record = {**self._record(), "state": state, "hash": self.request_hash, **extra}
        self._put("deployer", record, overwrite=True)
        self._state = state

    def _record(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "holder": f"{current_user()}@{socket.gethostname()} (pid {os.getpid()})",
            "scope": process_scope(),
            "pid": os.getpid(),
            "started": process_start(os.getpid()),
            "commit": self.commit,
            "expires_at": time.time() + ttl(),
        }

    def _renew(self) -> None:
        ssm = self._heartbeat_ssm
        if self._registered:
            self._put(f"users/{self.run_id}", self._record(), overwrite=True, ssm=ssm)
        if self._holding_deletion:
            self._put("deleting", self._record(), overwrite=True, ssm=ssm)
        if self._holding_deployer and self._state in ("deploying", "deleting"):
            found = self._get("deployer", ssm=ssm) or {}
            if found.get("run_id") == self.run_id:
                self._put("deployer", {**found, **self._record()}, overwrite=True, ssm=ssm)

    def users(self) -> list[dict[str, Any]]:
        """Every registration on the stack, live or not."""
        records: list[dict[str, Any]] = []
        paginator = self.ssm.get_paginator("get_parameters_by_path")
        for page in paginator.paginate(Path=f"{self.base}users/", Recursive=True):
            for parameter in page.get("Parameters", []):
                found = decode_record(parameter.get("Value", ""))
                if found:  # unreadable: nobody can be shown to hold it
                    records.append(found)
        return records

    def _put(self, name: str, record: dict[str, Any], overwrite: bool, ssm: Any = None) -> None:
        (ssm or self.ssm).put_parameter(
            Name=self.base + name, Value=json.dumps(record), Type="String", Overwrite=overwrite
        )

    def _get(self, name: str, ssm: Any = None) -> dict[str, Any] | None:
        """The record; None when there is none, empty when it is unreadable (nobody holds it)."""
        from botocore.exceptions import ClientError

        try:
            value = (ssm or self.ssm).get_parameter(Name=self.base + name)["Parameter"]["Value"]
        except ClientError as error:
            if error_code(error) == "ParameterNotFound":
                return None
            raise
        return decode_record(value)

    def _delete(self, name: str) -> None:
        try:
            self.ssm.delete_parameter(Name=self.base + name)
        except Exception:  # gone already, or expiry cleans up what a failed delete leaves
            pass


@dataclass(frozen=True)
class Joined:
    """The shared stack as this session joined it, and how long joining took."""

    description: StackDescription
    seconds: float


def claim_stack(
    share: SharedStack,
    operations: StackOperations,
    connection: Connection,
    write: Writer,
    started: float,
) -> Joined | None:
    """Claim the shared stack for this (registered) session: the stack it joins, or None when it
    is the one to deploy. ``started`` is when the claim began (``time.monotonic()``)."""
    from pytest_cloudstack.stack import describe_stack

    name = share.stack_name

    def status() -> str:
        found = operations.describe(name)
        return str(found["StackStatus"]) if found else ""

    claim = share.claim(status)
    if claim.role == "deploy":
        return None
    description = operations.describe(name)
    if description is None:
        raise DeployError(name, "the shared stack was marked ready but does not exist")
    operations.stack_id = description["StackId"]  # the last user out deletes it
    seconds = time.monotonic() - started
    write(f"stack {name} joined (deployed by {claim.deployer or 'another session'})")
    joined = describe_stack(
        connection, operations.cloudformation, description["StackId"], description
    )
    return Joined(joined, seconds)


def live_user_records(ssm: Any, stack_name: str) -> list[dict[str, Any]]:
    """The live registrations on ``stack_name`` (a sweep never deletes such a stack)."""
    share = SharedStack(ssm, stack_name, "", "", "", lambda line: None, 0)
    return [record for record in share.users() if is_live(record)]

"""A lease on the stack name across machines: two CI jobs of one branch must not share a stack.

The file lock (locking.py) covers one machine. Across machines the lease is an SSM parameter,
``/cloudstack/leases/<stack>``: creating it is atomic (``PutParameter`` without ``Overwrite``
fails when it exists), it says who holds it and until when, a thread renews it while the session
runs, and the session deletes it at the end. A crashed holder's lease expires after ``TTL``.
A second session that finds a live lease held by another run refuses, naming the holder.

Tags on the stack cannot carry the lease: they only change through UpdateStack, which also
re-tags every resource (minutes on AWS) and would defeat the unchanged-reuse fast path. Without
SSM permissions the session goes on with a warning: the lease is a guard, not a requirement.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from pytest_cloudstack.errors import ConcurrentRunError
from pytest_cloudstack.naming import current_user
from pytest_cloudstack.renewer import Renewer
from pytest_cloudstack.responses import boto_errors, error_code, service_message

PREFIX = "/cloudstack/leases/"
TTL = 600.0  # seconds a lease lives without renewal: how long a crashed run blocks the name
RENEW_EVERY = TTL / 3

Writer = Callable[[str], None]


class StackLease:
    """Held for the session by the process that deploys and deletes the stack."""

    def __init__(self, ssm: Any, stack_name: str, run_id: str, write: Writer) -> None:
        self.ssm = ssm
        self.name = f"{PREFIX}{stack_name}"
        self.stack_name = stack_name
        self.run_id = run_id
        self.write = write
        self.held = False
        #: the run ID of a session that died on this machine holding the lease (taken over): the
        #: stack it left is a leftover, not another session's stack in use
        self.orphaned_run: str | None = None
        self._renewer = Renewer("cloudstack-lease", lambda: RENEW_EVERY, self._renew)
        #: renewals: a heartbeat on a background thread, retried at the next tick, not one of
        #: the run's bounded calls (the guard reports a slow call on the terminal)
        self._heartbeat_ssm = getattr(ssm, "unguarded", ssm)

    def __enter__(self) -> StackLease:
        try:
            self._acquire()
        except boto_errors() as error:
            self.write(
                f"no cross-machine lease on stack {self.stack_name} ({service_message(error)}): "
                "another machine's "
                "session on the same stack would not be stopped"
            )
            return self
        self.held = True
        self._renewer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._renewer.stop()
        if self.held:
            try:
                if self._holder().get("run_id") == self.run_id:
                    self.ssm.delete_parameter(Name=self.name)
            except Exception:  # expiry cleans up what a failed release leaves
                pass
            self.held = False

    def _acquire(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self._put(overwrite=False)
            return
        except ClientError as error:
            if error_code(error) != "ParameterAlreadyExists":
                raise
        holder = self._holder()
        gone = holder_is_gone(holder)
        if holder.get("run_id") != self.run_id and is_live(holder):
            until = time.strftime("%H:%M:%S", time.localtime(holder["expires_at"]))
            raise ConcurrentRunError(
                f"stack {self.stack_name!r} is in use by another pytest session: "
                f"{holder.get('holder', 'unknown')} (pid {holder.get('pid', '?')}) holds its "
                f"lease ({self.name}) until {until} unless renewed. Wait for that session, or "
                "give this one its own stack with --cloud-stack-name"
            )
        if gone:
            self.orphaned_run = str(holder.get("run_id") or "") or None
            self.write(
                f"stack {self.stack_name}: the session that held its lease "
                f"({holder.get('holder', 'unknown')}, pid {holder.get('pid', '?')}) is gone: "
                "lease taken over"
            )
        # An expired lease (its holder crashed): take it over, then check nobody else did too.
        self._put(overwrite=True)
        time.sleep(0.2)
        if self._holder().get("run_id") != self.run_id:
            raise ConcurrentRunError(
                f"stack {self.stack_name!r}: another session took over its expired lease at the "
                "same moment; use --cloud-stack-name to run beside it"
            )

    def _renew(self) -> None:
        if read_lease(self._heartbeat_ssm, self.stack_name).get("run_id") == self.run_id:
            self._put(overwrite=True, ssm=self._heartbeat_ssm)

    def _put(self, overwrite: bool, ssm: Any = None) -> None:
        value = json.dumps(
            {
                "run_id": self.run_id,
                "holder": f"{current_user()}@{socket.gethostname()}",
                "scope": process_scope(),
                "pid": os.getpid(),
                "started": process_start(os.getpid()),
                "expires_at": time.time() + TTL,
            }
        )
        (ssm or self.ssm).put_parameter(
            Name=self.name, Value=value, Type="String", Overwrite=overwrite
        )

    def _holder(self) -> dict[str, Any]:
        return read_lease(self.ssm, self.stack_name)


def read_lease(ssm: Any, stack_name: str) -> dict[str, Any]:
    """The lease's holder record; empty when there is no lease (other failed reads raise)."""
    from botocore.exceptions import ClientError

    try:
        value = ssm.get_parameter(Name=f"{PREFIX}{stack_name}")["Parameter"]["Value"]
    except ClientError as error:
        if error_code(error) == "ParameterNotFound":
            return {}
        raise
    return decode_record(value)


def decode_record(value: str) -> dict[str, Any]:
    """A JSON record as the plugin writes it to SSM; empty when it is not one (written by hand,
    truncated): a record nobody can be shown to hold."""
    try:
        found = json.loads(value)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def release_lease(ssm: Any, stack_name: str, holder: Mapping[str, Any]) -> None:
    """Delete the lease parameter if it still names ``holder``'s run (a sweep, after a delete)."""
    if read_lease(ssm, stack_name).get("run_id") == holder.get("run_id"):
        ssm.delete_parameter(Name=f"{PREFIX}{stack_name}")


def is_live(holder: Mapping[str, Any]) -> bool:
    """A session holds this lease now: unexpired, and not held by a process known to be gone."""
    expires = holder.get("expires_at", 0)
    return isinstance(expires, int | float) and expires > time.time() and not holder_is_gone(holder)


def holder_is_gone(holder: Mapping[str, Any]) -> bool:
    """The holder ran on this machine and its process is gone, or its PID is another process's
    now: the lease is stale at once, whatever its expiry (SIGKILL, ``os._exit``)."""
    pid = holder.get("pid")
    if holder.get("scope") != process_scope() or not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there: trust the expiry instead
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        pass
    started, now = holder.get("started"), process_start(pid)
    if now == "zombie":
        return True
    return started is not None and now is not None and now != started


def process_scope() -> str:
    """Where a PID names the same process as here: this host, this boot, this PID namespace.
    Two containers may share a host name (host networking) but not a PID namespace: a live
    session in the other one must never look dead from this one."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        pass
    return "|".join(parts)


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux); None where unknown. With
    the PID, it tells a process from a later one that reused its PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: count after its last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20:
        return None
    return "zombie" if fields[0] == "Z" else fields[19]

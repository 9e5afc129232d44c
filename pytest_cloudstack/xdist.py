"""pytest-xdist: the controller deploys once and tears down; workers only use the stack.

The controller deploys when xdist configures the first worker node and hands every worker the
stack's description (and, for ``local``, the emulator's URL) through ``workerinput``. Workers
never create or delete anything, so a crashed worker cannot leave the stack half torn down; the
controller's ``pytest_sessionfinish`` runs after every worker has finished.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pytest

from pytest_cloudstack.connection import Connection
from pytest_cloudstack.environment import export_stack_name, pointed_at
from pytest_cloudstack.errors import CloudStackError
from pytest_cloudstack.stack import Stack, StackDescription
from pytest_cloudstack.stacks import StackSet

WORKERINPUT_KEY = "cloudstack"


class XdistController:
    """Registered on the controller when pytest-xdist is active."""

    def __init__(self, stacks: StackSet) -> None:
        self.stacks = stacks

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        stacks = self.stacks
        assert stacks.connection is not None
        payload: dict[str, Any] = {
            "name": stacks.name,
            "primary": stacks.primary_key,
            "connection": stacks.connection.to_dict(),
            # every stack's exported name, as the controller's environment has them
            "exports": [
                [env_name, run.name]
                for run in stacks.runs.values()
                for env_name in run.settings.env_names
            ],
        }
        try:
            deployed = stacks.ensure_all()
            payload["stacks"] = {key: s.description.to_dict() for key, s in deployed.items()}
        except CloudStackError as error:
            payload["error"] = str(error)
        # After the deploy: a warm-started emulator's process is known once it is ready.
        payload["emulator_pid"] = stacks.primary.emulator_pid()
        node.workerinput[WORKERINPUT_KEY] = payload


class WorkerStack:
    """A worker's view: the controller's stack, or the controller's deploy error."""

    def __init__(self, config: pytest.Config, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.name: str = payload["name"]
        hook = config.hook.pytest_cloudstack_boto_session
        self.connection = Connection.from_dict(
            payload["connection"], on_session=lambda session: hook(session=session)
        )
        self._stacks: dict[str, Stack] | None = None
        self._exit = contextlib.ExitStack()

    def start(self) -> None:
        for env_name, stack_name in self.payload["exports"]:
            self._exit.enter_context(export_stack_name(stack_name, (env_name,)))
        if self.connection.endpoint_url:
            self._exit.enter_context(
                pointed_at(self.connection.endpoint_url, self.connection.region)
            )

    def ensure_deployed(self) -> Stack:
        return self.ensure_all()[self.payload["primary"]]

    def ensure_all(self) -> dict[str, Stack]:
        if "error" in self.payload:
            raise CloudStackError(self.payload["error"])
        if self._stacks is None:
            self._stacks = {
                key: Stack(StackDescription.from_dict(data, self.connection))
                for key, data in self.payload["stacks"].items()
            }
        return self._stacks

    def emulator_death(self) -> str | None:
        """Whether the controller's ``local`` emulator is gone (asked when a test failed)."""
        pid = self.payload.get("emulator_pid")
        url = self.connection.endpoint_url
        if pid is None or url is None:
            return None
        port = int(url.rsplit(":", 1)[1])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except ConnectionRefusedError:  # only the emulator held its listening socket
            return (
                f"the local emulator (pid {pid}, {url}) died during the session: connections "
                "to it are refused (the session's summary has its last error output)"
            )
        except OSError:
            return None
        return None

    def finish(self, tests_failed: bool = False) -> None:
        self._exit.close()


def worker_payload(config: pytest.Config) -> dict[str, Any] | None:
    """The controller's payload when this process is an xdist worker of a cloud-stack run."""
    workerinput = getattr(config, "workerinput", None)
    if not isinstance(workerinput, dict):
        return None
    payload = workerinput.get(WORKERINPUT_KEY)
    return payload if isinstance(payload, dict) else None

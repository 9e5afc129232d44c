"""The parent's side of ``worker.py``: one warm execution environment, and the pool of them.

A ``Worker`` owns one ``worker.py`` process and its pipes: it starts it and waits for the init,
sends one request at a time, and reads the answer frame (stdout) and the output lines (stderr)
until the worker's end-of-output marker, so each invocation gets exactly its own log lines. A
``WorkerPool`` holds the idle environments of one function version; ``runner.py`` decides when to
start, reuse, retire and stop them.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_cloudstack.local.functions import FunctionSpec

#: Lambda's limit on the init phase of an on-demand environment, before the function's timeout.
INIT_TIMEOUT = 10.0

# Starts the line worker.py writes on the log pipe after a frame's output (its END_MARKER), so
# the parent knows which lines belong to which frame.
_END = "\x00cloudstack-end:"

# Go's names for the signals that end a runtime (Lambda's init is written in Go).
_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
}


@dataclass
class Outcome:
    """How one invocation ended in its environment; the runner turns it into Lambda's answer."""

    kind: str  # "ok", "error" (function error from the runtime), "timeout", "exited"
    payload: bytes = b""
    lines: list[tuple[int, str]] = field(default_factory=list)
    max_rss_mb: int = 0
    detail: str = ""


class WorkerGone(Exception):
    """The worker process went (its pipes closed) before it answered."""


def now_ms() -> int:
    return int(time.time() * 1000)


class Worker:
    """One execution environment: a ``worker.py`` process and the pipes to it."""

    def __init__(self, spec: FunctionSpec, log_stream: str) -> None:
        self.spec = spec
        self.log_stream = log_stream
        self.process: subprocess.Popen[bytes] | None = None
        self.init_ms = 0.0
        self.init_lines: list[tuple[int, str]] = []
        self.cold = True
        self._frames = b""
        self._partial = b""
        self._lines: list[tuple[int, str]] = []
        self._selector: selectors.BaseSelector | None = None
        self._log_open = True
        self._sink: Callable[[list[tuple[int, str]]], None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(
        self, command: list[str], env: dict[str, str], cwd: str, config: dict[str, Any]
    ) -> dict[str, Any]:
        """Start the process and wait for its init; returns the ``ready`` frame."""
        started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            # Ctrl-C in the terminal is pytest's to handle; the workers go when their pipe closes.
            start_new_session=True,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ, "frames")
        self._selector.register(self.process.stderr, selectors.EVENT_READ, "logs")
        self._write(json.dumps(config).encode() + b"\n")
        header, payload, lines = self._wait("init", started + INIT_TIMEOUT + self.spec.timeout)
        self.init_ms = header.get("ms", 0.0)
        self.init_lines = lines
        if not header.get("ready"):
            header["payload"] = payload
        return header

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """End the environment: close its stdin (it exits on EOF), kill it if it lingers."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._close_pipes()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def _close_pipes(self) -> None:
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self.process is not None:
            for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
                with contextlib.suppress(OSError):
                    if pipe is not None:
                        pipe.close()

    # -- one invocation -----------------------------------------------------------------------

    def invoke(
        self,
        request: dict[str, Any],
        body: bytes,
        deadline: float,
        sink: Callable[[list[tuple[int, str]]], None],
    ) -> Outcome:
        """Run one request; ``sink`` gets the output lines as they arrive."""
        self._sink = sink
        try:
            self._write(json.dumps({**request, "len": len(body)}).encode() + b"\n" + body)
            header, payload, lines = self._wait(request["id"], deadline)
        except TimeoutError:
            self.kill()
            return Outcome("timeout", lines=self.drain())
        except WorkerGone:
            return Outcome("exited", lines=self.drain(), detail=self.exit_reason())
        finally:
            self._sink = None
        return Outcome(
            "error" if header.get("error") else "ok",
            payload=payload,
            lines=lines,
            max_rss_mb=int(header.get("max_rss_mb", 0)),
        )

    def exit_reason(self) -> str:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if code == 0:
            return "Runtime exited without providing a reason"
        if code < 0:
            try:
                name = _SIGNAL_NAMES.get(signal.Signals(-code), signal.Signals(-code).name)
            except ValueError:
                name = str(-code)
            return f"Runtime exited with error: signal: {name}"
        return f"Runtime exited with error: exit status {code}"

    def _write(self, data: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerGone from None

    def _wait(
        self, marker: str, deadline: float
    ) -> tuple[dict[str, Any], bytes, list[tuple[int, str]]]:
        """Read both pipes until the frame for ``marker`` and its end-of-output marker arrived.

        The worker writes the marker on the log pipe before the frame, so once both are in,
        every line before the marker is this frame's output.
        """
        end_line = _END + marker + "\x00"
        frame: tuple[dict[str, Any], bytes] | None = None
        while True:
            if frame is None:
                frame = self._parse_frame()
            texts = [text for _, text in self._lines]
            if frame is not None and end_line in texts:
                index = texts.index(end_line)
                lines, self._lines = self._lines[:index], self._lines[index + 1 :]
                return frame[0], frame[1], lines
            if frame is not None and not self._log_open:
                lines, self._lines = self._lines, []  # output pipe closed before the marker
                return frame[0], frame[1], lines
            self._read(deadline, need_frame=frame is None)

    def _read(self, deadline: float, need_frame: bool) -> None:
        """One round of reading whatever is available on the pipes, until ``deadline``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        assert self._selector is not None
        if not self._selector.get_map():
            raise WorkerGone
        for key, _ in self._selector.select(timeout=remaining):
            data = os.read(key.fd, 65536)
            if key.data == "frames":
                if not data:
                    self._selector.unregister(key.fileobj)
                    if need_frame:
                        raise WorkerGone
                self._frames += data
            elif data:
                self._feed_logs(data)
            else:
                self._selector.unregister(key.fileobj)
                self._log_open = False

    def _feed_logs(self, data: bytes) -> None:
        now = now_ms()
        self._partial += data
        *complete, self._partial = self._partial.split(b"\n")
        fresh = []
        for raw in complete:
            text = raw.decode("utf-8", "replace").replace("\r", "\n")
            self._lines.append((now, text))
            if not text.startswith(_END):
                fresh.append((now, text))
        if fresh and self._sink is not None:
            self._sink(fresh)

    def _parse_frame(self) -> tuple[dict[str, Any], bytes] | None:
        newline = self._frames.find(b"\n")
        if newline < 0:
            return None
        header = json.loads(self._frames[:newline])
        end = newline + 1 + int(header["len"])
        if len(self._frames) < end:
            return None
        payload = self._frames[newline + 1 : end]
        self._frames = self._frames[end:]
        return header, payload

    def drain(self) -> list[tuple[int, str]]:
        """After a kill or an exit: whatever the process wrote before it went."""
        deadline = time.monotonic() + 2
        with contextlib.suppress(TimeoutError, WorkerGone, OSError, ValueError):
            while self._selector is not None and self._selector.get_map():
                self._read(deadline, need_frame=False)
        if self._partial:
            self._feed_logs(b"\n")
        lines, self._lines = self._lines, []
        if self.process is not None:
            try:
                self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_pipes()
        return [line for line in lines if not line[1].startswith(_END)]


class WorkerPool:
    """The warm environments of one function version, all with the same configuration."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.idle: list[Worker] = []
        self.live = 0
        self.retired = False
        self.changed = threading.Condition()

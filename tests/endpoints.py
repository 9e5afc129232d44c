"""Real socket servers on 127.0.0.1 for faults that live in the network, not in the answers.

* ``SilentServer`` accepts connections and never answers.
* ``PlainWebServer`` is a web server that is not an AWS endpoint (``http.server``'s 501 pages).
* ``StallingProxy`` forwards to a real endpoint (``moto_server``), and for chosen operations
  answers late, or carries the request to the endpoint and never returns its answer (the call
  happened; the caller never learns it). It records every request it saw.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl


class _Server:
    url = ""

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        raise NotImplementedError


class SilentServer(_Server):
    """Accepts every connection, reads nothing, answers nothing."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        for connection in self.accepted:
            connection.close()


class PlainWebServer(_Server):
    """``http.server`` with no POST handler: every AWS call gets its HTML 501 page."""

    def __init__(self) -> None:
        class Quiet(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Seen:
    """One request the proxy received: the operation and its form parameters."""

    operation: str
    params: dict[str, str] = field(default_factory=dict)


class StallingProxy(_Server):
    """Forwards to ``target``; ``delay`` answers chosen operations late, ``swallow`` forwards
    them and never answers (until the proxy stops); after an operation in ``then_silent`` went
    through, every later request is swallowed unsent (the endpoint went away)."""

    def __init__(
        self,
        target: str,
        delay: dict[str, float] | None = None,
        swallow: frozenset[str] = frozenset(),
        then_silent: frozenset[str] = frozenset(),
    ) -> None:
        self.target = target
        self.delay = delay or {}
        self.swallow = swallow
        self.then_silent = then_silent
        self._silent = threading.Event()
        self.seen: list[Seen] = []
        self._stopped = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                params = dict(parse_qsl(body.decode("utf-8", "replace")))
                target = self.headers.get("X-Amz-Target", "")
                operation = params.get("Action") or target.rsplit(".", 1)[-1] or self.path
                proxy.seen.append(Seen(operation, params))
                if proxy._silent.is_set():
                    proxy._stopped.wait()
                    return
                if operation in proxy.then_silent:
                    proxy._silent.set()
                if operation in proxy.delay:
                    time.sleep(proxy.delay[operation])
                status, headers, answer = proxy._forward(self, body)
                if operation in proxy.swallow:
                    proxy._stopped.wait()  # the call happened; its answer never comes
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _forward(
        self, handler: http.server.BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
        request = urllib.request.Request(
            self.target + handler.path, data=body or None, headers=headers, method=handler.command
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, list(answer.headers.items()), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, list(error.headers.items()), error.read()

    def operations(self) -> list[str]:
        return [seen.operation for seen in self.seen]

    def requests(self, operation: str) -> list[dict[str, str]]:
        return [seen.params for seen in self.seen if seen.operation == operation]

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()

"""Velocity mapping templates, as API Gateway evaluates them (``$input``, ``$util``, ``$context``).

Evaluated with airspeed-ext (a Velocity engine for Python kept for AWS's templates; in the
``local`` extra); should it be missing, a template is used as its literal text, which is what
the static templates of MOCK integrations and CORS preflights are.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, quote

from pytest_cloudstack.local.apigateway.events import Request


def choose(templates: dict[str, str], content_type: str | None) -> str | None:
    """The template for the request's content type, else application/json's, else the only one."""
    if not templates:
        return None
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    for key, value in templates.items():
        if key.lower() == kind:
            return value
    if "application/json" in templates:
        return templates["application/json"]
    return next(iter(templates.values())) if len(templates) == 1 else None


class _Input:
    """``$input``: the request's body and parameters."""

    def __init__(self, request: Request, body: bytes | None) -> None:
        self._request = request
        self._body = request.body if body is None else body

    @property
    def body(self) -> str:
        return self._body.decode(errors="replace")

    def json(self, path: str = "$") -> str:
        return json.dumps(self._select(path))

    def path(self, path: str = "$") -> Any:
        return self._select(path)

    def _select(self, path: str) -> Any:
        try:
            value: Any = json.loads(self._body or b"null")
        except ValueError:
            return None
        for part in [p for p in path.lstrip("$").split(".") if p]:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def params(self, name: str | None = None) -> Any:
        headers = {key: value for key, value in self._request.headers}
        query = dict(parse_qsl(self._request.query, keep_blank_values=True))
        every = {
            "header": headers,
            "querystring": query,
            "path": dict(self._request.path_parameters),
        }
        if name is None:
            return every
        for group in ("path", "querystring", "header"):
            if name in every[group]:
                return every[group][name]
        return ""


class _Util:
    """``$util``."""

    @staticmethod
    def escapeJavaScript(text: Any) -> str:
        return json.dumps(str(text))[1:-1].replace("'", "\\'")

    @staticmethod
    def urlEncode(text: Any) -> str:
        return quote(str(text), safe="")

    @staticmethod
    def urlDecode(text: Any) -> str:
        from urllib.parse import unquote_plus

        return unquote_plus(str(text))

    @staticmethod
    def base64Encode(text: Any) -> str:
        return base64.b64encode(str(text).encode()).decode()

    @staticmethod
    def base64Decode(text: Any) -> str:
        return base64.b64decode(str(text)).decode(errors="replace")

    @staticmethod
    def parseJson(text: Any) -> Any:
        return json.loads(str(text))


def render(template: str, request: Request, body: bytes | None) -> str:
    """The template evaluated for ``request`` (``body``: an integration's answer, or None)."""
    try:
        import airspeed  # type: ignore[import-untyped]
    except ImportError:
        return template
    variables = {
        "input": _Input(request, body),
        "util": _Util(),
        "context": {
            "requestId": request.request_id,
            "stage": request.stage,
            "httpMethod": request.method,
            "apiId": request.api_id,
            "accountId": request.account_id,
            "resourcePath": request.path,
            "identity": {"sourceIp": request.source_ip},
        },
    }
    return str(airspeed.Template(template).merge(variables))

"""``Api``: an API Gateway REST or HTTP API of the stack, and plain HTTP requests to it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pytest_cloudstack.handles._common import handle_repr, is_error

if TYPE_CHECKING:
    from pytest_cloudstack.handles._resolve import HandleCache

#: the stage SAM adds to every REST API it makes (a known SAM quirk), never the one to test
_SAM_STAGE = "Stage"
#: the resource types of HTTP APIs (API Gateway v2) and of REST APIs
_HTTP_API_TYPES = ("AWS::ApiGatewayV2::Api", "AWS::Serverless::HttpApi")
_REST_API_TYPES = ("AWS::ApiGateway::RestApi", "AWS::Serverless::Api")


@dataclass
class Response:
    """An HTTP answer: ``status``, ``headers`` (name -> last value; ``header_list`` has all),
    ``body`` bytes, ``text`` and ``json()``."""

    status: int
    header_list: list[tuple[str, str]]
    body: bytes
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = _CaseInsensitive({name: value for name, value in self.header_list})

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class _CaseInsensitive(dict[str, str]):
    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__({key.lower(): value for key, value in values.items()})

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


class Api:
    """A REST API (``AWS::ApiGateway::RestApi``) or HTTP API (``AWS::ApiGatewayV2::Api``).

    ``url`` is the invoke URL of its stage (``stage=`` or the one it has; for SAM APIs the one
    SAM declared, not SAM's extra ``Stage``), ending without a slash: on AWS
    ``https://<id>.execute-api.<region>.amazonaws.com/<stage>``, on ``local`` (and endpoint
    targets) the emulator's ``<endpoint>/_aws/execute-api/<id>/<stage>``.
    ``request(method, path, ...)`` calls it with the standard library and returns a ``Response``
    whatever the status.
    """

    def __init__(self, clients: HandleCache, api_id: str, logical_id: str | None = None) -> None:
        self.logical_id = logical_id
        self.id = api_id
        self._clients = clients
        self._stage: str | None = None
        self._http_api: bool | None = None

    @property
    def http_api(self) -> bool:
        """Whether this is an HTTP API (API Gateway v2)."""
        if self._http_api is None:
            resource = self._clients.stack.resources.get(self.logical_id or "")
            if resource is not None and resource.type in _HTTP_API_TYPES:
                self._http_api = True
            elif resource is not None and resource.type in _REST_API_TYPES:
                self._http_api = False
            else:  # an Output's value: ask API Gateway v2, which knows only HTTP APIs
                try:
                    self._clients.client("apigatewayv2").get_api(ApiId=self.id)
                    self._http_api = True
                except Exception as error:
                    if not is_error(error, "NotFoundException"):
                        raise  # throttling, expired credentials...: not an answer about the API
                    self._http_api = False
        return self._http_api

    @property
    def stage(self) -> str:
        """The stage ``url`` reaches: ``$default`` (HTTP APIs, no path), else the API's stage."""
        if self._stage is None:
            self._stage = self._default_stage()
        return self._stage

    @property
    def base_url(self) -> str:
        """The API's URL without a stage."""
        stack = self._clients.stack
        if stack.endpoint_url:
            from pytest_cloudstack.local.apigateway.urls import local_base

            return local_base(stack.endpoint_url, self.id)
        return f"https://{self.id}.execute-api.{stack.region}.amazonaws.com"

    @property
    def url(self) -> str:
        """The invoke URL of ``stage``."""
        return self.stage_url(self.stage)

    def stage_url(self, stage: str) -> str:
        """The invoke URL of another stage of this API."""
        return self.base_url if stage == "$default" else f"{self.base_url}/{stage}"

    def request(
        self,
        method: str,
        path: str = "/",
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: bytes | str | None = None,
        timeout: float = 30,
    ) -> Response:
        """Call ``method path`` on the stage (``json_body`` is sent as JSON, ``data`` as it is)."""
        url = self.url + "/" + path.lstrip("/")
        if params:
            url += "?" + urlencode(params, doseq=True)
        sent = dict(headers or {})
        body: bytes | None = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        elif data is not None:
            body = data.encode() if isinstance(data, str) else data
        request = urllib.request.Request(url, data=body, headers=sent, method=method.upper())
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return Response(answer.status, list(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, list(error.headers.items()), error.read())

    def _default_stage(self) -> str:
        if self.http_api:
            stages = self._clients.client("apigatewayv2").get_stages(ApiId=self.id)["Items"]
            names = [stage["StageName"] for stage in stages]
            return "$default" if "$default" in names or not names else names[0]
        stages = self._clients.client("apigateway").get_stages(restApiId=self.id)["item"]
        names = [stage["stageName"] for stage in stages if stage.get("stageName")]
        chosen = [name for name in names if name != _SAM_STAGE] or names
        if not chosen:
            raise LookupError(f"API {self.logical_id or self.id} has no stage: deploy one")
        return str(sorted(chosen)[0])

    def __repr__(self) -> str:
        return handle_repr("Api", self.logical_id, self.id)

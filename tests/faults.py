"""Fault injection for pytest-cloudstack's tests: AWS behaviour that moto cannot produce.

The harness lives in the botocore event system of a ``boto3.session.Session``. botocore copies that
emitter into each client created from the session, so install it *before* creating clients.

* Throttling / 5xx storms: chosen attempts never leave the process; ``before-send`` answers them with
  the error document AWS sends, so botocore's parser and retry handler treat them as the real thing.
* Slow stacks and failure stories: the request goes to moto for real (or, where AWS would not carry
  it out, is answered as AWS accepts it), and the real DescribeStacks / DescribeStackEvents answers
  are rewritten (status, reason, events) before botocore parses them.
* A record of every CloudFormation call, in memory and, across processes, as JSON lines in a file.

Nothing in boto3, botocore or the plugin is patched. Meant for moto only: forwarded requests keep
their signature, and the harness's own DescribeStacks / DescribeStackResources reads reuse it.
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree as ET

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.httpsession import URLLib3Session
from urllib3.response import HTTPResponse

if TYPE_CHECKING:
    from collections.abc import Iterator

    import boto3
    from botocore.model import OperationModel

ENV_VAR = "CLOUDSTACK_FAULT_PLAN"
CFN_NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
_N = "{" + CFN_NS + "}"
# Query-protocol services wrap errors in <ErrorResponse xmlns=...>; S3 (rest-xml) sends a bare <Error>.
_QUERY_NS = {"cloudformation": CFN_NS, "sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
_UNKNOWN = "The request processing has failed because of an unknown error, exception or failure."
# code -> (HTTP status, fault type, message), as AWS sends them.
_ERRORS = {
    "Throttling": (400, "Sender", "Rate exceeded"),
    "InternalFailure": (500, "Receiver", _UNKNOWN),
    "ServiceUnavailable": (503, "Receiver", "Service Unavailable"),
    "ValidationError": (400, "Sender", "Invalid request"),
    "SlowDown": (503, "Receiver", "Please reduce your request rate."),  # S3
    "InternalError": (500, "Receiver", "We encountered an internal error. Please try again."),
    # Not an AWS error document: the HTML page moto's server (werkzeug) sends when it crashes.
    "HtmlInternalServerError": (500, "Receiver", "Internal Server Error"),
}
_HTML_500 = (
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable "
    "to complete your request. Either the server is overloaded or there is an error in the "
    "application.</p>\n"
)
_IN_PROGRESS = {
    f"{v.title()}Stack": f"{v.upper()}_IN_PROGRESS" for v in ("create", "update", "delete")
}
# Story kind -> (the operation that starts it, the state it leaves the stack in).
_STORIES = {
    "create_failure": ("CreateStack", "ROLLBACK_COMPLETE"),
    "update_rollback": ("UpdateStack", "UPDATE_ROLLBACK_COMPLETE"),
    "delete_failure": ("DeleteStack", "DELETE_FAILED"),
}
# UpdateStack is refused in these (and every *_IN_PROGRESS) state with a ValidationError.
_NOT_UPDATABLE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"}

# A stack event: (logical id, None for the stack itself; ResourceStatus; ResourceStatusReason).
_Event = tuple[str | None, str, str | None]


@dataclass
class Throttle:
    """Answer matching attempts (retries included) with an AWS error instead of sending them.

    Deterministic: every ``every``-th matching attempt or, with ``rate``, draws of
    ``random.Random(seed)``; ``limit`` caps the total (``every=1, limit=2``: the first two fail).
    """

    operations: list[str] = field(default_factory=lambda: ["*"])
    service: str = "cloudformation"  # cloudformation, sts (query protocol) or s3
    code: str = "Throttling"
    every: int = 1
    rate: float | None = None
    seed: int = 0
    limit: int | None = None
    skip: int = 0  # the first ``skip`` matching attempts go through untouched

    def __post_init__(self) -> None:
        if self.code not in _ERRORS or self.service not in {*_QUERY_NS, "s3"} or self.every < 1:
            raise ValueError(f"unsupported throttle: {self}")


@dataclass
class SlowStack:
    """``stack`` reports ``*_IN_PROGRESS`` for ``seconds`` after each real operation on it ends."""

    stack: str
    seconds: float
    operations: list[str] = field(default_factory=lambda: list(_IN_PROGRESS))


@dataclass
class Story:
    """A CloudFormation failure story for ``stack``, played back on DescribeStacks/-Events.

    ``kind``: ``create_failure`` (CreateStack runs on moto, then CREATE_IN_PROGRESS ->
    ROLLBACK_IN_PROGRESS -> ROLLBACK_COMPLETE), ``update_rollback`` and ``delete_failure`` (the
    operation is accepted but not run on moto: AWS, too, leaves the stack as it was), or
    ``existing`` (the stack is found in ``status``, with the events of the story that left it so).
    ``resource`` fails with ``reason`` (default: a real message); ``others`` (default: the stack's
    other resources on moto) are cancelled or deleted. Phases last ``step_seconds``, or
    ``step_calls`` DescribeStacks calls when set; the last one stays until the next operation on
    the stack. ``times``: how many operations the story spoils (-1: all).
    """

    stack: str
    kind: str
    resource: str = "ReceiptsBucket"
    resource_type: str = "AWS::S3::Bucket"
    reason: str | None = None
    others: dict[str, str] = field(default_factory=dict)
    step_seconds: float = 0.3
    step_calls: int = 0
    times: int = 1
    status: str = "ROLLBACK_COMPLETE"

    def __post_init__(self) -> None:
        if self.kind not in {*_STORIES, "existing"}:
            raise ValueError(f"unknown story kind {self.kind!r}: {[*_STORIES, 'existing']}")


@dataclass
class FaultPlan:
    """Everything an injector does, as plain data: it travels as JSON into pytester runs."""

    throttles: list[Throttle] = field(default_factory=list)
    slow: list[SlowStack] = field(default_factory=list)
    stories: list[Story] = field(default_factory=list)
    record: str | None = None  # JSON-lines file every call and injection is appended to

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        raw = json.loads(text)
        return cls(
            throttles=[Throttle(**t) for t in raw.get("throttles", [])],
            slow=[SlowStack(**s) for s in raw.get("slow", [])],
            stories=[Story(**s) for s in raw.get("stories", [])],
            record=raw.get("record"),
        )

    @classmethod
    def from_env(cls, var: str = ENV_VAR) -> FaultPlan:
        """The plan in ``$CLOUDSTACK_FAULT_PLAN``; an empty plan (no faults) when unset."""
        text = os.environ.get(var)
        return cls.from_json(text) if text else cls()


@dataclass
class _Phase:
    status: str
    reason: str | None
    events: list[_Event]  # oldest first, the stack's own event included


def _phase(status: str, reason: str | None, events: list[_Event], first: bool = False) -> _Phase:
    # The stack's event opens the first phase ("User Initiated") and closes the others.
    if first:
        return _Phase(status, reason, [(None, status, "User Initiated"), *events])
    return _Phase(status, reason, [*events, (None, status, reason)])


def _story_phases(kind: str, s: Story, others: list[str]) -> list[_Phase]:
    """The phases of a story, with the events AWS emits in each."""
    token, res = uuid.uuid4(), s.resource
    if kind == "delete_failure":
        reason = s.reason or (
            'Resource handler returned message: "The bucket you tried to delete is not empty '
            f"(Service: S3, Status Code: 409, Request ID: {token.hex[:16].upper()}, Extended "
            f'Request ID: {token.hex})" (RequestToken: {token}, '
            "HandlerErrorCode: GeneralServiceException)"
        )
        why = f"The following resource(s) failed to delete: [{res}]. "
        gone = [(o, st, None) for o in others for st in ("DELETE_IN_PROGRESS", "DELETE_COMPLETE")]
        return [
            _phase("DELETE_IN_PROGRESS", None, [*gone, (res, "DELETE_IN_PROGRESS", None)], True),
            _phase("DELETE_FAILED", why, [(res, "DELETE_FAILED", reason)]),
        ]
    reason = s.reason or (
        f'Resource handler returned message: "Invalid request provided: {s.resource_type}" '
        f"(RequestToken: {token}, HandlerErrorCode: InvalidRequest)"
    )
    if kind == "update_rollback":
        why = f"The following resource(s) failed to update: [{res}]. "
        back: list[_Event] = [(res, "UPDATE_IN_PROGRESS", None), (res, "UPDATE_COMPLETE", None)]
        return [
            _phase("UPDATE_IN_PROGRESS", None, [(res, "UPDATE_IN_PROGRESS", None)], True),
            _phase("UPDATE_ROLLBACK_IN_PROGRESS", why, [(res, "UPDATE_FAILED", reason)]),
            _phase("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None, back),
            _phase("UPDATE_ROLLBACK_COMPLETE", None, []),
        ]
    names = [res, *others]
    why = f"The following resource(s) failed to create: [{', '.join(names)}]. "
    why += "Rollback requested by user."
    started: list[_Event] = [(n, "CREATE_IN_PROGRESS", None) for n in names]
    started += [(o, "CREATE_IN_PROGRESS", "Resource creation Initiated") for o in others]
    cancelled: list[_Event] = [(o, "CREATE_FAILED", "Resource creation cancelled") for o in others]
    return [
        _phase("CREATE_IN_PROGRESS", None, started, True),
        _phase("ROLLBACK_IN_PROGRESS", why, [(res, "CREATE_FAILED", reason), *cancelled]),
        _phase("ROLLBACK_COMPLETE", None, [(n, "DELETE_COMPLETE", None) for n in names[::-1]]),
    ]


@dataclass
class _Timeline:
    """The statuses a stack reports, phase after phase, instead of moto's own."""

    phases: list[_Phase]
    sticky: bool  # the last phase stays; otherwise the real state shows once the phases are over
    step_seconds: float
    step_calls: int
    started: float  # phase clock
    cutoff: float  # real events from this time on are hidden: the story replaces them
    member: ET.Element  # the stack's description when the story began (outlives a real delete)
    resources: dict[str, tuple[str, str]]  # logical id -> (type, physical id)
    calls: int = 0
    entered: list[float] = field(default_factory=list)  # when each phase reached so far began

    @property
    def stack_id(self) -> str:
        return self.member.findtext(f"{_N}StackId", "")

    def advance(self, describe: bool) -> _Phase | None:
        now = time.time()
        self.calls += describe
        if self.step_calls > 0:
            i = max(self.calls - 1, 0) // self.step_calls
        else:
            i = int((now - self.started) / self.step_seconds) if self.step_seconds > 0 else 99
        last = len(self.phases) - 1
        while len(self.entered) <= min(i, last):
            n = len(self.entered)
            self.entered.append(now if self.step_calls else self.started + n * self.step_seconds)
        return None if i > last and not self.sticky else self.phases[min(i, last)]

    def events(self) -> Iterator[tuple[float, _Event]]:
        for n, at in enumerate(self.entered):
            for k, event in enumerate(self.phases[n].events):
                yield at + k / 1000, event


_Snapshot = tuple[ET.Element, dict[str, tuple[str, str]]]


class FaultInjector:
    """Replays a :class:`FaultPlan` on the boto3 sessions it is installed on (shared state).

    ``attempts`` counts HTTP attempts per operation (retries included), ``injected`` the answers it
    made up per ``"Operation:Code"``, ``calls`` the CloudFormation API calls in order.
    """

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan if plan is not None else FaultPlan()
        self.attempts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._http = URLLib3Session()  # sends the requests whose real answers get rewritten
        self._rngs = [random.Random(t.seed) for t in self.plan.throttles]
        self._seen = [0] * len(self.plan.throttles)
        self._fired = [0] * len(self.plan.throttles)
        self._uses = [0] * len(self.plan.stories)
        self._timelines: dict[str, _Timeline] = {}

    @classmethod
    def from_env(cls, var: str = ENV_VAR) -> FaultInjector:
        return cls(FaultPlan.from_env(var))

    @property
    def operations(self) -> list[str]:
        return [c["operation"] for c in self.calls]

    def install(self, session: boto3.session.Session) -> FaultInjector:
        """Hook into ``session``: clients created from it from now on see the plan. Idempotent."""
        tag = f"cloudstack-faults-{id(self)}"
        for service in sorted({"cloudformation", *(t.service for t in self.plan.throttles)}):
            event = f"before-send.{service}"
            # A handler's AWSResponse replaces the HTTP call (botocore's stubs say "-> None").
            session.events.register(event, self._before_send, unique_id=f"{tag}-{event}")  # type: ignore[arg-type]
        # Once per API call, with the caller's own parameters (before-send sees every retry).
        event = "before-parameter-build.cloudformation"
        session.events.register(event, self._on_call, unique_id=f"{tag}-{event}")
        return self

    def _log(self, entry: dict[str, Any]) -> None:
        line = json.dumps({**entry, "time": time.time(), "pid": os.getpid()}, default=str)
        with self._lock:
            if entry["kind"] == "call":
                self.calls.append(json.loads(line))  # a copy, as JSON sees it
            if self.plan.record:
                with open(self.plan.record, "a", encoding="utf-8") as out:
                    out.write(line + "\n")  # one small O_APPEND write: whole lines across processes

    def _on_call(self, params: dict[str, Any], model: OperationModel, **_: Any) -> None:
        self._log({"kind": "call", "operation": model.name, "params": params})

    def _inject(self, operation: str, code: str) -> None:
        with self._lock:
            self.injected[f"{operation}:{code}"] += 1
        self._log({"kind": "inject", "operation": operation, "code": code})

    def _before_send(
        self, request: AWSPreparedRequest, event_name: str, **_: Any
    ) -> AWSResponse | None:
        service, operation = event_name.split(".")[1:3]
        with self._lock:
            self.attempts[operation] += 1
            code = self._pick_fault(service, operation)
        if code is not None:
            self._inject(operation, code)
            return _error(service, code, request.url)
        if service != "cloudformation" or not (
            operation in _IN_PROGRESS or operation in ("DescribeStacks", "DescribeStackEvents")
        ):
            return None
        params = dict(parse_qsl(_text(request.body)))
        stack = _stack_name(params.get("StackName", ""))
        self._find_existing(request, stack)
        if operation not in _IN_PROGRESS:
            return self._on_read(request, operation, stack)
        return self._on_change(request, operation, stack, params) if stack else None

    def _pick_fault(self, service: str, operation: str) -> str | None:
        for n, t in enumerate(self.plan.throttles):
            if t.service != service or not {"*", operation} & set(t.operations):
                continue
            if t.limit is not None and self._fired[n] >= t.limit:
                continue
            self._seen[n] += 1
            if self._seen[n] <= t.skip:
                continue
            hit = (
                self._seen[n] % t.every == 0 if t.rate is None else self._rngs[n].random() < t.rate
            )
            if hit:
                self._fired[n] += 1
                return t.code
        return None

    def _on_change(
        self, request: AWSPreparedRequest, op: str, stack: str, params: dict[str, str]
    ) -> AWSResponse | None:
        cutoff = time.time()
        # Retaining the blocking resource, or forcing the delete, is how a DELETE_FAILED stack
        # gets deleted on AWS: no story.
        retain = any(key.startswith("RetainResources") for key in params) or (
            params.get("DeletionMode") == "FORCE_DELETE_STACK"
        )
        with self._lock:
            current = self._timelines.get(stack)
            phase = current.advance(describe=False) if current else None
            story = next(
                (
                    n
                    for n, s in enumerate(self.plan.stories)
                    if s.stack == stack
                    and not retain
                    and _STORIES.get(s.kind, ("",))[0] == op
                    and s.times != self._uses[n]
                ),
                None,
            )
            slow = next(
                (s for s in self.plan.slow if s.stack == stack and op in s.operations), None
            )
        if current and phase and op == "UpdateStack":
            if phase.status in _NOT_UPDATABLE or phase.status.endswith("_IN_PROGRESS"):
                msg = f"Stack:{current.stack_id} is in {phase.status} state and can not be updated."
                self._inject(op, "ValidationError")
                return _error("cloudformation", "ValidationError", request.url, msg)
        if story is not None and op != "CreateStack":
            snap = self._snapshot(request, stack)
            if snap is None:
                return None  # no such stack: moto answers for real
            self._start_story(stack, story, snap, cutoff)  # accepted, never run on moto
            return _accepted(op, request.url, self._timelines[stack].stack_id)
        if story is None and slow is None and current is None:
            return None
        before = self._snapshot(request, stack) if slow and op == "DeleteStack" else None
        response = self._forward(request)
        if response.status_code >= 300:
            return response
        with self._lock:
            self._timelines.pop(stack, None)  # the real operation supersedes an earlier story
        snap = before or self._snapshot(request, stack)
        if snap and story is not None:
            self._start_story(stack, story, snap, cutoff)
        elif snap and slow is not None:
            phases = [_phase(_IN_PROGRESS[op], None, [], True)]
            timeline = _Timeline(phases, False, slow.seconds, 0, time.time(), cutoff, *snap)
            with self._lock:
                self._timelines[stack] = timeline
        return response

    def _start_story(self, stack: str, n: int, snap: _Snapshot, cutoff: float) -> None:
        story, (member, found) = self.plan.stories[n], snap
        kind = story.kind
        if kind == "existing":
            kind = next((k for k, (_, left) in _STORIES.items() if left == story.status), kind)
        others = story.others or {k: t for k, (t, _) in found.items() if k != story.resource}
        resources = {**found, **{k: (t, found.get(k, ("", ""))[1]) for k, t in others.items()}}
        # A resource that failed to create has no physical id yet.
        physical = "" if kind == "create_failure" else found.get(story.resource, ("", ""))[1]
        resources[story.resource] = (story.resource_type, physical)
        if kind == "existing":  # a state no story leads to: the status alone
            phases = [_Phase(story.status, story.reason, [])]
        else:
            phases = _story_phases(kind, story, list(others))
        started, step_calls = time.time(), story.step_calls
        if story.kind == "existing":  # found so: the whole story happened an hour ago
            started, cutoff, step_calls = started - 3600, 0.0, 0
        timeline = _Timeline(
            phases, True, story.step_seconds, step_calls, started, cutoff, member, resources
        )
        with self._lock:
            self._uses[n] += 1
            self._timelines[stack] = timeline

    def _find_existing(self, request: AWSPreparedRequest, stack: str) -> None:
        """Start ``existing`` stories when their stack is first seen (all of them: ``stack=""``)."""
        for n, s in enumerate(self.plan.stories):
            if s.kind == "existing" and not self._uses[n] and stack in ("", s.stack):
                snap = self._snapshot(request, s.stack)
                if snap is not None:
                    self._start_story(s.stack, n, snap, 0.0)

    def _on_read(self, request: AWSPreparedRequest, op: str, stack: str) -> AWSResponse | None:
        if op == "DescribeStackEvents" and not stack:
            return None
        active: dict[str, tuple[_Timeline, _Phase]] = {}
        with self._lock:
            for name in [stack] if stack else list(self._timelines):
                timeline = self._timelines.get(name)
                phase = timeline.advance(describe=op == "DescribeStacks") if timeline else None
                if timeline and phase:
                    active[name] = (timeline, phase)
                elif timeline:
                    del self._timelines[name]  # over: the real state shows from now on
        if not active:
            return None
        real = self._forward(request)
        root = ET.fromstring(real.content) if real.status_code < 300 else None
        if op == "DescribeStacks":
            if root is None and not stack:
                return real
            if root is None:  # deleted on moto, still deleting here: describe it as it was
                root = _document("DescribeStacks", "<Stacks/>")
                _find(root, "Stacks").append(copy.deepcopy(active[stack][0].member))
            for member in root.iterfind(f".//{_N}Stacks/{_N}member"):
                if member.findtext(f"{_N}StackName", "") in active:
                    _restyle(member, *active[member.findtext(f"{_N}StackName", "")])
            return _response(real.url, 200, root)
        timeline = active[stack][0]
        root = root if root is not None else _document("DescribeStackEvents", "<StackEvents/>")
        box = _find(root, "StackEvents")
        for old in list(box):
            if _epoch(old.findtext(f"{_N}Timestamp", "")) >= timeline.cutoff:
                box.remove(old)
        for at, event in sorted(timeline.events(), key=lambda pair: pair[0]):
            box.insert(0, _event_member(timeline, stack, at, event))  # newest first, as AWS does
        return _response(real.url, 200, root)

    def _forward(self, request: AWSPreparedRequest, body: str | None = None) -> AWSResponse:
        """Send ``request`` (or a sibling with ``body``) to the endpoint, to edit its real answer."""
        if body is not None:
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            headers["Content-Length"] = str(len(body.encode()))
            request = AWSPreparedRequest("POST", request.url, headers, body, False)  # type: ignore[arg-type]
        response = self._http.send(request)
        response.content  # noqa: B018 - read it now: the connection goes back to the pool
        return response

    def _snapshot(self, request: AWSPreparedRequest, stack: str) -> _Snapshot | None:
        """The stack's description and resources (logical id -> type, physical id) on moto."""
        found = []
        for action in ("DescribeStacks", "DescribeStackResources"):
            body = urlencode({"Action": action, "Version": "2010-05-15", "StackName": stack})
            answer = self._forward(request, body)
            if answer.status_code >= 300:
                return None
            found.append(ET.fromstring(answer.content))
        member = found[0].find(f".//{_N}Stacks/{_N}member")
        resources: dict[str, tuple[str, str]] = {}
        for m in found[1].iterfind(f".//{_N}StackResources/{_N}member"):
            kind, physical = (
                m.findtext(f"{_N}{t}", "") for t in ("ResourceType", "PhysicalResourceId")
            )
            resources[m.findtext(f"{_N}LogicalResourceId", "")] = (kind, physical)
        return None if member is None else (member, resources)


def conftest_source(plan: FaultPlan | None = None) -> str:
    """A conftest.py that installs ``plan`` (default: ``$CLOUDSTACK_FAULT_PLAN``) on every session
    the plugin creates. It imports this file by absolute path: it works from any tmp dir."""
    if plan is not None:
        FaultPlan.from_json(plan.to_json())  # fail here, not in the pytester run, on a bad plan
    made = f"FaultPlan.from_json({plan.to_json()!r})" if plan else "FaultPlan.from_env()"
    return _CONFTEST.format(path=str(Path(__file__).resolve()), plan=made)


_CONFTEST = """\
\"\"\"Generated by tests/faults.py: fault injection on every boto3 Session of the plugin.\"\"\"
import importlib.util
import sys

import pytest

_spec = importlib.util.spec_from_file_location("cloudstack_faults", {path!r})
faults = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = faults  # dataclasses look their module up while classes are built
_spec.loader.exec_module(faults)
injector = faults.FaultInjector(faults.{plan})


@pytest.hookimpl(optionalhook=True)  # harmless where the plugin (and its hookspec) is absent
def pytest_cloudstack_boto_session(session):
    injector.install(session)
"""


def read_record(path: str | Path, kind: str | None = "call") -> list[dict[str, Any]]:
    """The entries of a plan's record file (``kind``: "call", "inject", or None for all)."""
    if not Path(path).exists():
        return []
    entries = [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line]
    return [e for e in entries if kind is None or e["kind"] == kind]


def _response(
    url: str, status: int, body: str | ET.Element, rid: str = "", content_type: str = "text/xml"
) -> AWSResponse:
    if isinstance(body, ET.Element):
        body = ET.tostring(body, encoding="unicode", default_namespace=CFN_NS)
    data = body.encode()
    headers = {"Content-Type": content_type, "Content-Length": str(len(data))}
    headers["x-amzn-RequestId"] = rid or str(uuid.uuid4())
    # botocore reads the body of an answer from a urllib3 response, as off the wire.
    raw = HTTPResponse(body=io.BytesIO(data), preload_content=False)
    return AWSResponse(url, status, headers, raw)  # type: ignore[arg-type]


def _error(service: str, code: str, url: str, message: str | None = None) -> AWSResponse:
    status, fault, default = _ERRORS[code]
    rid, message = str(uuid.uuid4()), message or default
    if code == "HtmlInternalServerError":
        return _response(url, status, _HTML_500, rid, content_type="text/html; charset=utf-8")
    if service in _QUERY_NS:
        body = (
            f'<ErrorResponse xmlns="{_QUERY_NS[service]}">\n  <Error>\n    <Type>{fault}</Type>\n'
            f"    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n"
            f"  <RequestId>{rid}</RequestId>\n</ErrorResponse>\n"
        )
    else:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}'
            f"</Message><RequestId>{rid[:16].upper()}</RequestId><HostId>{rid}</HostId></Error>"
        )
    return _response(url, status, body, rid)


def _document(operation: str, result: str) -> ET.Element:
    """A successful query-protocol answer; ``result`` goes into ``<{operation}Result>``."""
    return ET.fromstring(
        f'<{operation}Response xmlns="{CFN_NS}"><{operation}Result>{result}</{operation}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    )


def _accepted(op: str, url: str, stack_id: str) -> AWSResponse:
    root = _document(op, f"<StackId>{stack_id}</StackId>" if op == "UpdateStack" else "")
    if op == "DeleteStack":  # DeleteStack answers without any <DeleteStackResult>
        root.remove(root[0])
    return _response(url, 200, root)


def _restyle(member: ET.Element, timeline: _Timeline, phase: _Phase) -> None:
    """Rewrite one ``<Stacks><member>`` of a DescribeStacks answer to show ``phase``."""
    _find(member, "StackStatus").text = phase.status
    for old in member.findall(f"{_N}StackStatusReason"):
        member.remove(old)
    if phase.reason:
        where = list(member).index(_find(member, "StackStatus")) + 1
        member.insert(where, _element("StackStatusReason", phase.reason))
    outputs = member.find(f"{_N}Outputs")
    if outputs is not None and phase.status.startswith(("CREATE_IN_PROGRESS", "ROLLBACK_")):
        member.remove(outputs)  # AWS publishes outputs only once a create has succeeded
    when = {"DELETE": "DeletionTime", "UPDATE": "LastUpdatedTime"}.get(phase.status.split("_")[0])
    if when:
        if member.find(f"{_N}{when}") is None:
            member.append(_element(when, ""))
        _find(member, when).text = _iso(timeline.started)


def _event_member(timeline: _Timeline, stack: str, at: float, event: _Event) -> ET.Element:
    logical, status, reason = event
    stamp = _iso(at)
    if logical is None:
        rtype, physical, logical = "AWS::CloudFormation::Stack", timeline.stack_id, stack
        # Stable ids: pollers tell new events from seen ones by EventId.
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{timeline.stack_id}/{status}/{stamp}"))
    else:
        rtype, physical = timeline.resources.get(logical, ("", ""))
        event_id = f"{logical}-{status}-{stamp}"
    fields = {
        "StackId": timeline.stack_id,
        "EventId": event_id,
        "StackName": stack,
        "LogicalResourceId": logical,
        "PhysicalResourceId": physical,
        "ResourceType": rtype,
        "Timestamp": stamp,
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
    }
    member = ET.Element(f"{_N}member")
    member.extend(_element(tag, text) for tag, text in fields.items() if text is not None)
    return member


def _element(tag: str, text: str) -> ET.Element:
    element = ET.Element(f"{_N}{tag}")
    element.text = text
    return element


def _find(parent: ET.Element, tag: str) -> ET.Element:
    found = parent.find(f".//{_N}{tag}")
    assert found is not None, f"no <{tag}> in the answer"
    return found


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _text(body: object) -> str:
    return body.decode() if isinstance(body, bytes) else body if isinstance(body, str) else ""


def _stack_name(value: str) -> str:
    """The name in a StackName parameter, which may also be the stack's ARN."""
    return value.split(":stack/", 1)[1].split("/")[0] if ":stack/" in value else value

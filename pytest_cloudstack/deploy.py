"""The CloudFormation lifecycle of one stack: create or adopt-and-update, then delete.

Rules that protect users' accounts live here:

- a stack without the ``cloudstack:managed`` tag is never updated or deleted;
- an existing stack of ours is only adopted with ``reuse``; otherwise the run refuses rather than
  take over a stack another session may be using;
- a stack an earlier run left dead (``ROLLBACK_COMPLETE``, ``ROLLBACK_FAILED``, ``DELETE_FAILED``,
  ``REVIEW_IN_PROGRESS``) is deleted and created again.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pytest_cloudstack.errors import (
    DeployError,
    OwnershipError,
    ResourceFailure,
    ServiceError,
    TeardownError,
)
from pytest_cloudstack.naming import CREATED_AT_TAG, HASH_TAG, OWNERSHIP_TAG, RUN_ID_TAG
from pytest_cloudstack.progress import EventFeed
from pytest_cloudstack.responses import (
    error_code,
    error_message,
    is_unreadable_answer,
    service_message,
    tags_of,
)
from pytest_cloudstack.waiting import WaitResult, is_in_progress, wait_for_stack

if TYPE_CHECKING:
    from pytest_cloudstack.calls import CallGuard

Progress = Callable[[str], None]

_DEAD = {
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "DELETE_FAILED",
    "REVIEW_IN_PROGRESS",
    "CREATE_FAILED",
}
# Noise that follows the real failure: CloudFormation cancels every sibling of a failed resource.
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")


@dataclass(frozen=True)
class DeployRequest:
    """Everything CloudFormation needs to create or update the stack."""

    name: str
    template_body: str
    parameters: Mapping[str, str]
    capabilities: tuple[str, ...]
    tags: Mapping[str, str]
    timeout: float
    keep_failed_resources: bool = False
    #: set when the body is over CloudFormation's inline limit (51,200 bytes) and was uploaded:
    #: sent as ``TemplateURL`` instead; ``template_body`` is still what the request hash covers
    template_url: str | None = None

    def stack_arguments(self, tags: Mapping[str, str] | None = None) -> dict[str, Any]:
        """What CreateStack, UpdateStack and CreateChangeSet share: the template (``TemplateURL``
        when it was uploaded), parameters, capabilities and tags (``tags`` overrides)."""
        template: dict[str, str] = (
            {"TemplateURL": self.template_url}
            if self.template_url is not None
            else {"TemplateBody": self.template_body}
        )
        return {
            **template,
            "Parameters": [
                {"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()
            ],
            "Capabilities": list(self.capabilities),
            "Tags": [{"Key": k, "Value": v} for k, v in (tags or self.tags).items()],
        }


@dataclass
class DeployOutcome:
    """What the deploy did; ``action`` is ``created``, ``updated`` or ``unchanged``."""

    stack_id: str
    action: str
    seconds: float
    description: dict[str, Any] = field(repr=False)


def request_hash(
    template_body: str,
    parameters: Mapping[str, str],
    tags: Mapping[str, str],
    capabilities: tuple[str, ...],
) -> str:
    """A hash of everything that makes an update necessary (volatile plugin tags left out)."""
    import hashlib

    stable_tags = {k: v for k, v in tags.items() if not k.startswith("cloudstack:")}
    material = json.dumps(
        [
            template_body,
            sorted(parameters.items()),
            sorted(stable_tags.items()),
            sorted(capabilities),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


class StackOperations:
    """Create, update and delete one stack through a CloudFormation client.

    ``synchronous`` is true for the embedded emulator, whose operations complete inside the API
    call: a stack still in progress afterwards means a resource failed (moto gives no reason).
    """

    def __init__(
        self,
        cloudformation: Any,
        s3: Any,
        progress: Progress,
        synchronous: bool = False,
        run_id: str = "",
        verbosity: int | None = None,
        cli: Callable[..., str] | None = None,
        calls: CallGuard | None = None,
    ):
        self.cloudformation = cloudformation
        self.s3 = s3
        self.progress = progress
        self.synchronous = synchronous
        self.run_id = run_id
        #: None: no event lines; otherwise pytest's verbosity (-1 quiet, 0, 1 verbose)
        self.verbosity = verbosity
        self._seen_events: set[str] = set()
        #: set as soon as a stack of ours exists, so that teardown can find it whatever happens next
        self.stack_id: str | None = None
        #: the stack this run created: ownership proven by its ID, whatever its tags say later
        self.created_id: str | None = None
        self.create_attempted = False
        #: the run ID of a session that died on this machine holding the stack's lease: its
        #: stack is a leftover, deleted and created again rather than refused
        self.orphaned_run: str | None = None
        #: builds a complete AWS CLI command for the target (region, endpoint, profile)
        self.cli = cli or (lambda *words: " ".join(("aws", *words)))
        #: bounds each operation, calls included, by its timeout (None: the waits alone do)
        self.calls = calls

    def _bounded(self, what: str) -> contextlib.AbstractContextManager[None]:
        return self.calls.deadline(what) if self.calls is not None else contextlib.nullcontext()

    def _remaining(self, timeout: float) -> float:
        """What is left of ``timeout`` under the operation's deadline."""
        return timeout if self.calls is None else min(timeout, self.calls.remaining())

    # -- reading ------------------------------------------------------------------------------

    def describe(self, name_or_id: str) -> dict[str, Any] | None:
        """The stack's description, or None when no such (live) stack exists."""
        from botocore.exceptions import ClientError

        try:
            stacks = self.cloudformation.describe_stacks(StackName=name_or_id)["Stacks"]
        except ClientError as error:
            if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
                return None
            raise
        except Exception as error:
            if not is_unreadable_answer(error.__cause__ or error):
                raise
            # moto answers HTTP 500 for a stack a failed create left half-made, yet lists it:
            # find it in the list, so that it can still be deleted.
            stacks = self._listed(name_or_id, error)
        if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
            return None
        return dict(stacks[0])

    def _listed(self, name_or_id: str, error: Exception) -> list[dict[str, Any]]:
        try:
            pages = self.cloudformation.get_paginator("describe_stacks").paginate()
            listed = [stack for page in pages for stack in page["Stacks"]]
        except Exception:
            raise error from None
        return [
            stack
            for stack in listed
            if name_or_id in (stack.get("StackId"), stack.get("StackName"))
            and stack.get("StackStatus") != "DELETE_COMPLETE"
        ]

    def failures(self, stack_id: str, since: datetime | None = None) -> tuple[ResourceFailure, ...]:
        """Failed resources with the service's reasons, root causes first, oldest first."""
        events: list[dict[str, Any]] = []
        paginator = self.cloudformation.get_paginator("describe_stack_events")
        try:
            for page in paginator.paginate(StackName=stack_id):
                events.extend(page["StackEvents"])
                if (
                    since is not None
                    and page["StackEvents"]
                    and page["StackEvents"][-1]["Timestamp"] < since
                ):
                    break
        except Exception:  # diagnostics must never hide the error they are explaining
            return ()
        failed = [
            event
            for event in reversed(events)
            if event.get("ResourceStatus", "").endswith("_FAILED")
            and (since is None or event["Timestamp"] >= since)
        ]
        root = [e for e in failed if not e.get("ResourceStatusReason", "").startswith(_CANCELLED)]
        chosen = root or failed
        resources = [e for e in chosen if e.get("ResourceType") != "AWS::CloudFormation::Stack"]
        return tuple(
            ResourceFailure(
                logical_id=e.get("LogicalResourceId", "?"),
                resource_type=e.get("ResourceType", "?"),
                status=e.get("ResourceStatus", "?"),
                reason=e.get("ResourceStatusReason", "no reason given"),
            )
            for e in (resources or chosen)
        )

    # -- deploying ------------------------------------------------------------------------------

    def deploy(self, request: DeployRequest, reuse: bool) -> DeployOutcome:
        """Create the stack, or adopt and update an existing one of ours (``reuse``)."""
        with self._bounded("the deploy"):
            return self._deploy(request, reuse)

    def _deploy(self, request: DeployRequest, reuse: bool) -> DeployOutcome:
        started = time.monotonic()
        existing = self.describe(request.name)
        if existing is not None:
            existing = self._settle_existing(request, existing, reuse)
        if existing is None:
            description = self._create(request)
            return DeployOutcome(
                description["StackId"], "created", time.monotonic() - started, description
            )
        self.stack_id = existing["StackId"]
        if tags_of(existing).get(HASH_TAG) == request.tags.get(HASH_TAG):
            self.progress(f"stack {request.name} is up to date: reused without an update")
            return DeployOutcome(
                existing["StackId"], "unchanged", time.monotonic() - started, existing
            )
        description = self._update(request, existing)
        action = "updated" if description is not existing else "unchanged"
        return DeployOutcome(existing["StackId"], action, time.monotonic() - started, description)

    def _settle_existing(
        self, request: DeployRequest, existing: dict[str, Any], reuse: bool
    ) -> dict[str, Any] | None:
        """Decide what to do with a stack that already has our name; None means create anew."""
        name, status = request.name, existing["StackStatus"]
        if tags_of(existing).get(OWNERSHIP_TAG) != "true":
            raise OwnershipError(
                f"stack {name!r} already exists and was not created by pytest-cloudstack "
                f"(it has no tag {OWNERSHIP_TAG}=true): it is never updated or deleted. "
                "Choose another name with --cloud-stack-name or ini cloud_stack_prefix."
            )
        if is_in_progress(status) and status != "REVIEW_IN_PROGRESS":
            if not reuse and status != "DELETE_IN_PROGRESS":
                raise DeployError(
                    name,
                    f"the stack exists and is busy ({status}); another session "
                    "is probably using it. Wait for it, or use --cloud-stack-name.",
                )
            self.progress(f"stack {name} is {status}: waiting for that operation to end")
            result = wait_for_stack(
                lambda: self.describe(existing["StackId"]),
                "delete" if status == "DELETE_IN_PROGRESS" else "update",
                self._remaining(request.timeout),
            )
            if result.timed_out:
                raise DeployError(name, f"timed out waiting for the stack to leave {status}")
            if result.description is None:
                return None
            existing, status = result.description, result.status
        if status in _DEAD:
            self.progress(f"stack {name} is {status}, left by an earlier run: deleting it first")
            self.delete(existing["StackId"], request.timeout)
            return None
        if (
            not reuse
            and self.orphaned_run
            and tags_of(existing).get(RUN_ID_TAG) == self.orphaned_run
        ):
            self.progress(
                f"stack {name} was left by a session that died on this machine: deleting it first"
            )
            self.delete(existing["StackId"], request.timeout)
            return None
        if not reuse:
            raise DeployError(
                name,
                f"the stack already exists ({status}, created "
                f"{tags_of(existing).get(CREATED_AT_TAG, 'at an unknown time')}). Pass "
                "--cloud-stack-reuse to adopt and update it, or delete it first: "
                + self.cli("cloudformation", "delete-stack", "--stack-name", name),
            )
        if status == "UPDATE_ROLLBACK_FAILED":
            raise DeployError(
                name,
                "the stack is UPDATE_ROLLBACK_FAILED and cannot be updated: run "
                + self.cli("cloudformation", "continue-update-rollback", "--stack-name", name)
                + " or delete it",
            )
        return existing

    def _create(self, request: DeployRequest) -> dict[str, Any]:
        self.progress(f"creating stack {request.name}")
        started_at = _now()
        self.create_attempted = True
        try:
            response = self.cloudformation.create_stack(
                StackName=request.name,
                **request.stack_arguments(),
                # Keep the failed resources for inspection when the user keeps failed stacks.
                OnFailure="DO_NOTHING" if request.keep_failed_resources else "ROLLBACK",
                TimeoutInMinutes=max(1, math.ceil(request.timeout / 60)),
                ClientRequestToken=f"cloudstack-{uuid.uuid4()}",
            )
        except Exception as error:
            self._adopt_leftover(request.name)
            raise DeployError(
                request.name,
                _refused("CreateStack", error),
                self.failures(self.stack_id, started_at) if self.stack_id else (),
            ) from None
        self.stack_id = self.created_id = response["StackId"]
        return self._wait(request, "create", started_at)

    def _update(self, request: DeployRequest, existing: dict[str, Any]) -> dict[str, Any]:
        tags = dict(request.tags)
        tags[CREATED_AT_TAG] = tags_of(existing).get(CREATED_AT_TAG, tags[CREATED_AT_TAG])
        self.progress(f"updating stack {request.name}")
        started_at = _now()
        try:
            self.cloudformation.update_stack(
                StackName=existing["StackId"],
                **request.stack_arguments(tags),
                ClientRequestToken=f"cloudstack-{uuid.uuid4()}",
            )
        except Exception as error:
            if "No updates are to be performed" in error_message(error):
                return existing
            raise DeployError(request.name, _refused("UpdateStack", error)) from None
        return self._wait(request, "update", started_at)

    def _wait(self, request: DeployRequest, operation: str, started_at: datetime) -> dict[str, Any]:
        assert self.stack_id is not None
        stack_id = self.stack_id
        feed = self._feed(stack_id, started_at)
        result = wait_for_stack(
            lambda: self.describe(stack_id),
            operation,
            self._remaining(request.timeout),
            on_poll=feed.poll if feed else None,
        )
        if feed is not None:
            feed.poll(result.status, force=True)  # the last events, before any verdict
        if result.succeeded and result.description is not None:
            return result.description
        error = DeployError(
            request.name,
            self._why(result, operation, request.timeout),
            self.failures(stack_id, started_at),
        )
        error.events = tuple(feed.tail()) if feed else ()
        raise error

    def _feed(self, stack_id: str, since: datetime) -> EventFeed | None:
        if self.verbosity is None:
            return None
        return EventFeed(
            self.cloudformation,
            stack_id,
            since,
            self.progress,
            self.verbosity,
            seen=self._seen_events,
        )

    def _why(self, result: WaitResult, operation: str, timeout: float) -> str:
        if result.timed_out:
            return f"timed out after {timeout:.0f}s (--cloud-stack-timeout) with the stack in {result.status}"
        if self.synchronous and is_in_progress(result.status):
            return (
                f"the emulator left the stack in {result.status}: a resource failed to {operation} "
                "and the emulator gives no reason"
            )
        reason = (result.description or {}).get("StackStatusReason")
        return f"the stack is {result.status}" + (f" ({reason})" if reason else "")

    def _adopt_leftover(self, name: str) -> None:
        # An emulator may answer a failing create with an error yet keep a half-created stack;
        # remember it so that teardown deletes it (only if this run created it).
        try:
            self.stack_id = self.find_own_stack(name)
        except Exception:
            return

    def find_own_stack(self, name: str) -> str | None:
        """The ID of the live stack ``name`` if this very run created it (its run-id tag).

        Used when a create was cut short (an interrupt, an error answer) before its ID was known:
        another session's stack of the same name must never be mistaken for ours.
        """
        if not self.run_id or not self.create_attempted:
            return None
        with self._bounded("finding the stack"):
            found = self.describe(name)
        if found is not None and tags_of(found).get(RUN_ID_TAG) == self.run_id:
            self.created_id = str(found["StackId"])
            return self.created_id
        return None

    # -- deleting -------------------------------------------------------------------------------

    def delete(self, stack_id: str, timeout: float, force: bool = False) -> tuple[str, ...]:
        """Empty the stack's buckets, delete it and wait for ``DELETE_COMPLETE``.

        ``DELETE_FAILED`` is retried once after emptying the buckets again (a function may have
        written to one meanwhile); with ``force`` a second failure forces the delete. Returns
        what a forced delete left behind, as ``LogicalId (Type PhysicalId)`` texts.
        """
        try:
            with self._bounded("the delete"):
                return self._delete(stack_id, timeout, force)
        except ServiceError as error:  # no answer, no connection: name the stack
            raise TeardownError(_name_of(stack_id), str(error)) from None

    def _delete(self, stack_id: str, timeout: float, force: bool) -> tuple[str, ...]:
        existing = self.describe(stack_id)
        if existing is None:
            return ()
        name = existing["StackName"]
        # A stack this run created is ours by its ID, even if a test replaced its tags since;
        # the tag is the proof for a stack found by name.
        if stack_id != self.created_id and tags_of(existing).get(OWNERSHIP_TAG) != "true":
            raise OwnershipError(
                f"stack {name!r} has no tag {OWNERSHIP_TAG}=true: pytest-cloudstack never deletes it"
            )
        if existing.get("EnableTerminationProtection"):
            raise TeardownError(
                name,
                "termination protection is on, and pytest-cloudstack never turns it off; turn it "
                "off yourself if the stack should go",
            )
        status = existing["StackStatus"]
        # CloudFormation refuses a delete while a rollback or an update runs; a create in
        # progress, though, is cancelled by the delete.
        if is_in_progress(status) and status not in ("CREATE_IN_PROGRESS", "DELETE_IN_PROGRESS"):
            self.progress(f"stack {name} is {status}: waiting for it to settle before deleting")
            settled = wait_for_stack(
                lambda: self.describe(stack_id), "settle", self._remaining(timeout)
            )
            if settled.description is None:
                return ()
            if settled.timed_out:
                raise TeardownError(
                    name,
                    f"timed out after {timeout:.0f}s waiting for the stack to leave "
                    f"{settled.status}",
                )
        deadline = time.monotonic() + self._remaining(timeout)
        failure = self._delete_once(name, stack_id, deadline)
        if failure is None:
            return ()
        self.progress(f"stack {name} is DELETE_FAILED: emptying its buckets and trying again")
        failure = self._delete_once(name, stack_id, deadline)
        if failure is None:
            return ()
        if not force:
            raise failure
        return self._force_delete(name, stack_id, deadline, failure)

    def _delete_once(self, name: str, stack_id: str, deadline: float) -> TeardownError | None:
        """One DeleteStack and its wait; DELETE_FAILED is returned, other failures raised."""
        started_at = _now()
        emptying = ""
        try:
            self.empty_buckets(stack_id)
        except Exception as error:  # try the delete anyway: it may still succeed, or say why not
            # Said only if the delete fails: after a failed create, the resources of a
            # half-made stack often can't even be listed, and the delete goes well anyway.
            emptying = f"; its buckets could not be emptied first: {service_message(error)}"
        self._request_delete(name, stack_id)
        result = self._wait_deleted(stack_id, deadline, started_at)
        if result.succeeded:
            return None
        if result.timed_out:
            raise TeardownError(name, f"timed out with the stack in {result.status}{emptying}")
        reason = (result.description or {}).get("StackStatusReason")
        failure = TeardownError(
            name,
            f"the stack is {result.status}" + (f" ({reason})" if reason else "") + emptying,
            self.failures(stack_id, started_at),
        )
        if result.status != "DELETE_FAILED":
            raise failure
        return failure

    def _force_delete(
        self, name: str, stack_id: str, deadline: float, failure: TeardownError
    ) -> tuple[str, ...]:
        blocking = [f.logical_id for f in failure.failures if f.status == "DELETE_FAILED"]
        resources = self._resource_summaries(stack_id)
        self.progress(f"forcing the delete of stack {name} (ini cloud_stack_force_delete)")
        try:
            self._request_delete(name, stack_id, DeletionMode="FORCE_DELETE_STACK")
        except TeardownError:
            # Endpoints that know no DeletionMode: RetainResources does the same in DELETE_FAILED.
            self._request_delete(name, stack_id, RetainResources=blocking)
        result = self._wait_deleted(stack_id, deadline)
        if not result.succeeded:
            raise failure
        return tuple(
            f"{logical} ({resources[logical][0]} {resources[logical][1]})"
            if logical in resources
            else logical
            for logical in blocking
        )

    def _request_delete(self, name: str, stack_id: str, **extra: Any) -> None:
        try:
            self.cloudformation.delete_stack(
                StackName=stack_id, ClientRequestToken=f"cloudstack-{uuid.uuid4()}", **extra
            )
        except Exception as error:
            # An emulator may refuse the call on a resource a test already deleted (moto:
            # NonExistentQueue) and yet remove the stack: gone is what was asked for.
            with contextlib.suppress(Exception):
                if self.describe(stack_id) is None:
                    return
            raise TeardownError(name, _refused("DeleteStack", error)) from None

    def _wait_deleted(
        self, stack_id: str, deadline: float, since: datetime | None = None
    ) -> WaitResult:
        remaining = max(deadline - time.monotonic(), 1.0)
        feed = self._feed(stack_id, since) if since is not None else None
        result = wait_for_stack(
            lambda: self.describe(stack_id),
            "delete",
            remaining,
            on_poll=feed.poll if feed else None,
        )
        if feed is not None:
            feed.poll(result.status, force=True)
        return result

    def _resource_summaries(self, stack_id: str) -> dict[str, tuple[str, str]]:
        """Logical ID -> (type, physical ID) of the stack's resources; empty if unreadable."""
        try:
            return {
                summary["LogicalResourceId"]: (
                    summary["ResourceType"],
                    summary.get("PhysicalResourceId", ""),
                )
                for summary in self.resource_summaries(stack_id)
            }
        except Exception:
            return {}

    def resource_summaries(self, stack_id: str) -> list[dict[str, Any]]:
        """Every ListStackResources summary of the stack (all pages)."""
        paginator = self.cloudformation.get_paginator("list_stack_resources")
        return [
            summary
            for page in paginator.paginate(StackName=stack_id)
            for summary in page["StackResourceSummaries"]
        ]

    def empty_buckets(self, stack_id: str) -> int:
        """Delete every object version in the stack's buckets: S3 refuses to delete a non-empty one."""
        from botocore.exceptions import ClientError

        removed = 0
        for bucket in self.physical_ids(stack_id, "AWS::S3::Bucket"):
            try:
                paginator = self.s3.get_paginator("list_object_versions")
                for page in paginator.paginate(Bucket=bucket):
                    keys = [
                        {"Key": item["Key"], "VersionId": item["VersionId"]}
                        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                    ]
                    for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys at most
                        self.s3.delete_objects(
                            Bucket=bucket,
                            Delete={"Objects": keys[start : start + 1000], "Quiet": True},
                        )
                        removed += len(keys[start : start + 1000])
            except ClientError as error:
                if error_code(error) != "NoSuchBucket":
                    raise
        return removed

    def physical_ids(self, stack_id: str, resource_type: str) -> list[str]:
        """Physical IDs of the stack's live resources of one type."""
        return [
            summary["PhysicalResourceId"]
            for summary in self.resource_summaries(stack_id)
            if summary["ResourceType"] == resource_type
            and summary.get("PhysicalResourceId")
            and summary.get("ResourceStatus") != "DELETE_COMPLETE"
        ]


def _name_of(stack_id: str) -> str:
    """The stack name in a stack ARN (``arn:...:stack/NAME/uuid``), or the name as given."""
    return stack_id.split(":stack/", 1)[1].split("/")[0] if ":stack/" in stack_id else stack_id


def _refused(operation: str, error: BaseException) -> str:
    """What became of a call that changes the stack: refused in the service's words, or (a
    ``ServiceError``) never answered, unreachable, answered with a web page."""
    if isinstance(error, ServiceError):
        return str(error)
    return f"{operation} was refused: {service_message(error)}"


def _now() -> datetime:
    from datetime import timezone

    # A second of slack: the service's event timestamps and this clock are not the same clock.
    return datetime.fromtimestamp(time.time() - 1, tz=timezone.utc)

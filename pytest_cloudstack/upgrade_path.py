"""The upgrade path's steps in a run (``--cloud-stack-upgrade-from=REF``).

``upgrade.py`` knows what an update would destroy and how to check REF out; this module is the
order a run takes them in: refuse settings that can't go with it at configure time, prepare REF's
deploy request and check the update before anything is deployed, then create the stack from REF,
let the suite seed it, and (on AWS) ask CloudFormation's own verdict before the update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cloudstack.errors import CloudStackError, ConfigurationError

if TYPE_CHECKING:
    from pytest_cloudstack.connection import Connection
    from pytest_cloudstack.deploy import DeployRequest, StackOperations
    from pytest_cloudstack.settings import Settings

Writer = Callable[[str], None]


def check_upgrade_settings(settings: Settings, ref: str) -> None:
    """Refuse what can't go with an upgrade from ``ref``, and a ``ref`` git does not know."""
    from pytest_cloudstack.upgrade import resolve_ref

    if settings.share:
        raise ConfigurationError(
            "--cloud-stack-upgrade-from deploys REF on a fresh stack, then updates it: it "
            "cannot share a stack with other sessions (cloud_stack_share); use one or the other"
        )
    if settings.reuse:
        raise ConfigurationError(
            "--cloud-stack-upgrade-from deploys REF on a fresh stack, then updates it: it "
            "cannot adopt an existing stack (--cloud-stack-reuse); use one or the other"
        )
    resolve_ref(settings.rootdir, ref)


def prepare_previous(
    request: DeployRequest,
    source: Path | dict[str, Any],
    settings: Settings,
    prepare: Callable[[Path, Settings], DeployRequest],
    region: str,
    write: Writer,
    report_only: bool = False,
) -> DeployRequest | None:
    """REF's deploy request, after checking what updating it to ``request`` would destroy.

    ``source`` is the session's template, ``prepare`` makes the request of another version of
    the project (REF's checkout, with its own settings). ``report_only``: say what the update
    would destroy, refuse nothing (``--cloud-stack-plan``).
    """
    from pytest_cloudstack.upgrade import UpgradeError, check_upgrade, checkout

    ref = settings.upgrade_from
    assert ref is not None
    if not isinstance(source, Path):
        raise ConfigurationError(
            "--cloud-stack-upgrade-from needs a template file; the pytest_cloudstack_template "
            "hook returned a mapping"
        )
    with checkout(settings.rootdir, source, ref) as old:
        if old.template is None:
            write(f"upgrade from {ref}: the template does not exist there; nothing to check")
            return None
        settings_then = dataclasses.replace(settings, rootdir=old.rootdir, template=old.template)
        try:
            previous = prepare(old.template, settings_then)
        except CloudStackError as error:
            raise UpgradeError(
                f"the project as it is at {ref} ({old.commit[:7]}) cannot be deployed, so "
                f"there is nothing to upgrade from: {error}"
            ) from None
    check = check_upgrade(
        deployable(previous, region),
        deployable(request, region),
        region,
        settings.stateful_types,
        settings.allow_destroy,
    )
    for line in check.lines(f"{ref} ({old.commit[:7]})"):
        write(line)
    if not report_only:
        check.raise_if_blocked(ref)
    return previous


def deploy_previous(
    operations: StackOperations,
    connection: Connection,
    previous: DeployRequest,
    request: DeployRequest,
    settings: Settings,
    before_upgrade: Callable[..., object],
    write: Writer,
) -> None:
    """Create the stack from REF's template, let the suite seed its data
    (``before_upgrade``: the ``pytest_cloudstack_before_upgrade`` hook), and on AWS ask
    CloudFormation's change set too before the update to ``request``."""
    from pytest_cloudstack.stack import Stack, describe_stack

    ref = settings.upgrade_from
    assert ref is not None
    outcome = operations.deploy(previous, reuse=False)
    write(f"stack {request.name} created from {ref} in {outcome.seconds:.1f}s")
    description = describe_stack(
        connection, operations.cloudformation, outcome.stack_id, outcome.description
    )
    before_upgrade(stack=Stack(description), ref=ref)
    if not connection.is_emulator:
        # The service's own verdict for the real stack (emulators' change sets are not it).
        import json

        from pytest_cloudstack.plan import plan
        from pytest_cloudstack.upgrade import cross_check

        planned = plan(operations, request, write)
        check = cross_check(
            ((c.logical_id, c.resource_type, c.action, c.replacement) for c in planned),
            json.loads(previous.template_body),
            settings.stateful_types,
            settings.allow_destroy,
        )
        check.raise_if_blocked(ref)
    write(f"updating stack {request.name} to the working tree")


def deployable(request: DeployRequest, region: str) -> dict[str, Any]:
    """The body CloudFormation ends up with: packaged, and expanded where SAM is still to be."""
    import json

    from pytest_cloudstack.packaging.sam import SAM_TRANSFORM, transforms

    body: dict[str, Any] = json.loads(request.template_body)
    if SAM_TRANSFORM in transforms(body):
        from pytest_cloudstack.packaging.sam import transform

        body = transform(body, request.parameters, region, None)
    return body

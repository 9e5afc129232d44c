"""AWS service integrations (``AWS`` type): not run on the local target yet."""

from __future__ import annotations

from pytest_cloudstack.local.apigateway import apis, events
from pytest_cloudstack.local.apigateway.events import Answer, Request


def integrate(target: apis.Target, request: Request, integration: apis.Integration) -> Answer:
    return events.message(
        500,
        f"pytest-cloudstack's local target does not run AWS service integrations "
        f"({integration.uri})",
    )

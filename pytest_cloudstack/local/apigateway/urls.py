"""Local URLs of API Gateway APIs: where ``https://<id>.execute-api.<region>.amazonaws.com`` goes.

A leaf module (no moto): the emulator rewrites stack outputs with it, and the plugin's ``Api``
handle builds URLs with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: the path prefix the gateway answers under, on the emulator's own host and port
PREFIX = "/_aws/execute-api/"

_LOCAL_URL = re.compile(re.escape(PREFIX) + r"([a-z0-9]+)")
_AWS_URL = re.compile(r"https://([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?=[/?#]|$)")


def local_base(endpoint_url: str, api_id: str) -> str:
    """The local URL that stands for ``https://<api_id>.execute-api.<region>.amazonaws.com``."""
    return f"{endpoint_url.rstrip('/')}{PREFIX}{api_id}"


def api_id_of(url: str) -> str | None:
    """The API ID in an invoke URL, AWS's or a local one; None if it is neither."""
    found = _AWS_URL.match(url) or _LOCAL_URL.search(url)
    return found.group(1) if found else None


def rewrite(value: str, endpoint_url: str, known: Callable[[str], bool]) -> str:
    """``value`` with every execute-api URL of a ``known`` API replaced by its local URL."""

    def replace(match: re.Match[str]) -> str:
        api_id = match.group(1)
        return local_base(endpoint_url, api_id) if known(api_id) else match.group(0)

    return _AWS_URL.sub(replace, value)

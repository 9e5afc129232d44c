"""Reading AWS's answers: an error's code and message in the service's words, a stack's tags.

Duck-typed on botocore's ``ClientError.response`` so that importing this module imports nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError``; empty for any other exception."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", "") or "")


def error_message(error: BaseException) -> str:
    """The AWS error message of a botocore ``ClientError``; empty for any other exception."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Message", "") or "")


def service_message(error: BaseException) -> str:
    """The service's own words for an error, whatever shape the emulator answered in."""
    code, message = error_code(error), error_message(error)
    if code or message:
        return f"{code}: {message}" if code and message else (message or code)
    # moto sometimes answers a query-protocol call with a JSON body, which botocore cannot parse.
    match = re.search(r'"__type":\s*"([^"]+)",\s*"message":\s*"((?:[^"\\]|\\.)*)"', str(error))
    if match:
        return f"{match.group(1)}: {match.group(2)}"
    page = html_summary(str(error))
    if page:
        return page
    return f"{type(error).__name__}: {error}"


def html_summary(text: str) -> str:
    """An HTML page where an AWS answer was expected (a crashed emulator, a web server or proxy
    at the endpoint), in one line: its status and first line of text. Empty if ``text`` holds
    no HTML page."""
    start = re.search(r"<(?:!doctype\s+html|html)\b", text, re.IGNORECASE)
    if start is None:
        return ""
    page = text[start.start() :].replace("\\n", "\n")  # inside a bytes repr, newlines are escaped
    title = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    status = " ".join(title.group(1).split()) if title else "an error"
    body = page[title.end() :] if title else page
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.IGNORECASE | re.DOTALL)
    lines = [" ".join(line.split()) for line in re.sub(r"<[^>]*>", "\n", body).splitlines()]
    first = next((line for line in lines if line and line not in status), "")
    if len(first) > 160:
        first = first[:157] + "..."
    summary = f"the endpoint answered with an HTML page, not an AWS response: {status}"
    return f"{summary} ({first})" if first else summary


def tags_of(description: Mapping[str, Any]) -> dict[str, str]:
    """A DescribeStacks member's ``Tags`` list as a dict."""
    return {tag["Key"]: tag["Value"] for tag in description.get("Tags", [])}


def boto_errors() -> tuple[type[Exception], ...]:
    """What a botocore call raises when the service (or what answers in its place) fails:
    ``ResponseParserError`` (an HTML page where XML was expected) is neither of the others."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    return (BotoCoreError, ClientError, ResponseParserError)

"""Reading AWS's answers: an error's code and message in the service's words, a stack's tags.

Duck-typed on botocore's ``ClientError.response`` so that importing this module imports nothing.
``service_message`` is the one place a failed call becomes words; ``explain`` adds what failed
and what to do, for errors the plugin reports rather than handles.
"""

from __future__ import annotations

import html
import re
import sys
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


_JSON_ERROR = re.compile(r'"__type":\s*"([^"]+)",\s*"message":\s*"((?:[^"\\]|\\.)*)"')


def is_service_error(error: BaseException) -> bool:
    """A failed AWS call: one of ``boto_errors()``, for where an ``except`` clause can't say it."""
    # Without botocore loaded no error can be one of its; and checking must not import it.
    return "botocore" in sys.modules and isinstance(error, boto_errors())


def service_message(error: BaseException) -> str:
    """The service's own words for an error, whatever shape the endpoint answered in: an HTML
    error page (moto's HTTP 500, a plain web server) is summarised by its status and first line."""
    from pytest_cloudstack.errors import CloudStackError

    if isinstance(error, CloudStackError):
        return str(getattr(error, "reason", None) or error)
    code, message = error_code(error), error_message(error)
    if _looks_like_page(message):
        return page_summary(message, code if code.isdigit() else None)
    if code or message:
        return f"{code}: {message}" if code and message else (message or code)
    text = str(error)
    if type(error).__name__ == "ResponseParserError":
        body = text.split("\n", 1)[1] if "\n" in text else text
        if _looks_like_page(body):
            return page_summary(_unquote(body))
    # moto sometimes answers a query-protocol call with a JSON body, which botocore cannot parse.
    match = _JSON_ERROR.search(text)
    if match:
        return f"{match.group(1)}: {match.group(2)}"
    if type(error).__name__ == "ResponseParserError":
        first = text.splitlines()[0] if text else ""
        return f"an answer that is not an AWS response ({first[:200]})"
    return f"{type(error).__name__}: {error}"


def page_summary(page: str, status: str | None = None) -> str:
    """``HTTP 500 page instead of an AWS answer: '500 Internal Server Error'``."""
    title = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.IGNORECASE | re.DOTALL)
    lines = [html.unescape(re.sub(r"<[^>]+>", " ", line)).strip() for line in text.splitlines()]
    lines = [" ".join(line.split()) for line in lines if line.strip()]
    first = " ".join(html.unescape(title.group(1)).split()) if title else ""
    first = first or (lines[0] if lines else "")
    if status is None:
        found = re.search(r"\b([1-5]\d\d)\b", first) or re.search(
            r"(?:error code|status)\W*([1-5]\d\d)\b", " ".join(lines), re.IGNORECASE
        )
        status = found.group(1) if found else None
    what = f"HTTP {status} web page" if status else "a web page"
    return f"{what} instead of an AWS answer: {first[:200]!r}"


def what_to_do(error: BaseException, region: str | None, endpoint_url: str | None) -> str:
    """Advice for a failed call that the plugin cannot handle, from what kind of failure it is."""
    name = type(error).__name__
    unknown_region = region is not None and not is_known_region(region)
    advice = ""
    if unknown_region:
        advice = (
            f"{region!r} is not an AWS region (boto3 knows no such region): check --cloud-stack-region, "
            "ini cloud_stack_region or AWS_REGION"
        )
    elif name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        advice = (
            f"check that the endpoint {endpoint_url} is running and the URL is right"
            if endpoint_url
            else "check the network and the region"
        )
    elif name == "ReadTimeoutError":
        advice = "the endpoint accepted the connection but did not answer; check that it works"
    elif is_unreadable_answer(error):
        advice = (
            f"is {endpoint_url} an AWS endpoint? moto answers HTTP 500 for template mistakes "
            "it cannot report as AWS errors: check the template and the endpoint's log"
            if endpoint_url
            else "AWS answered with a web page: retry later"
        )
    return advice


def explain(
    error: BaseException, action: str, region: str | None = None, endpoint_url: str | None = None
) -> str:
    """``{action} failed: {what the service said}; {what to do}``: one line for a failed call."""
    return f"{action} failed: {reason(error, region, endpoint_url)}"


def reason(error: BaseException, region: str | None = None, endpoint_url: str | None = None) -> str:
    """``{what the service said}; {what to do}``, for messages that already name the call."""
    advice = what_to_do(error, region, endpoint_url)
    return service_message(error) + (f"; {advice}" if advice else "")


def is_known_region(region: str) -> bool:
    """Whether botocore's endpoint data lists ``region`` in any partition (AWS, China, GovCloud)."""
    import botocore.session

    session = botocore.session.get_session()
    for partition in session.get_available_partitions():
        if region in session.get_available_regions("cloudformation", partition):
            return True
    return False


def is_unreadable_answer(error: BaseException) -> bool:
    """An answer that is not an AWS answer: a web page, or a body botocore could not parse and
    that holds no error in the service's words either."""
    if _looks_like_page(error_message(error)):
        return True
    if type(error).__name__ != "ResponseParserError":
        return False
    return _JSON_ERROR.search(str(error)) is None


def _looks_like_page(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "b'<!doctype html", "b'<html")) or (
        "<html" in head and "<title" in text.lower()
    )


def _unquote(body: str) -> str:
    """The text of a ``b'...'`` bytes repr, as botocore puts the body into its message."""
    if body.startswith(("b'", 'b"')):
        body = body[2:-1]
    return body.replace("\\n", "\n").replace("\\'", "'").replace('\\"', '"')


def tags_of(description: Mapping[str, Any]) -> dict[str, str]:
    """A DescribeStacks member's ``Tags`` list as a dict."""
    return {tag["Key"]: tag["Value"] for tag in description.get("Tags", [])}


def boto_errors() -> tuple[type[Exception], ...]:
    """What a botocore call raises when the service (or what answers in its place) fails, for
    ``except`` clauses; the one definition of it (``is_service_error`` asks it too).
    ``ResponseParserError`` (an HTML page where XML was expected) is neither of the others."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    return (BotoCoreError, ClientError, ResponseParserError)

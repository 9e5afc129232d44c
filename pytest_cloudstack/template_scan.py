"""A template's resources (logical ID -> type), read in a fraction of a full parse.

Every collection, with or without ``--cloud-stack``, needs the resource list to generate the
resource fixtures; with no cached list it used to parse the template in full (``template.py``
builds every value in Python and records the line of every mapping: ~7 ms for the example's
100 lines, after ~10 ms of imports). libyaml's event stream answers the same question in about
half a millisecond, and it is flat: nesting is counted here, so a deep document costs no
recursion.

The scan answers only when it is sure to give what the full parse gives: one document, a
mapping at the top, no aliases or merge keys, only CloudFormation's tags, no duplicate or
non-string keys, nesting within ``MAX_DEPTH``, at most ``MAX_EXPANDED_NODES`` values, and every
resource's ``Type`` a plain resource type name. Anything else (or no libyaml) returns None, and
the caller parses in full, which also says what is wrong.
"""

from __future__ import annotations

import re
from typing import Any

#: CloudFormation's short-form tags and the function each stands for
FUNCTIONS = (
    "Base64 Cidr FindInMap GetAtt GetAZs ImportValue Join Select Split Sub Transform"
    " If Equals And Or Not Length ToJsonString"
).split()
CFN_TAGS = {"!Ref": "Ref", "!Condition": "Condition", **{f"!{n}": f"Fn::{n}" for n in FUNCTIONS}}
FOREACH = "Fn::ForEach::"  # AWS::LanguageExtensions loops: the key carries the loop's name
#: nesting of lists and mappings accepted in a template: real ones stay under 20 levels
MAX_DEPTH = 100
#: nodes a YAML document may expand to through its aliases (``*name``): a 1 MB template has some
#: 100,000; a few hundred bytes of nested aliases (a "billion laughs") expand to billions
MAX_EXPANDED_NODES = 1_000_000

_RESOURCE_TYPE = re.compile(r"[A-Za-z0-9]+(::[A-Za-z0-9_-]+)+")


class _Unsure(Exception):
    """The scan cannot promise the full parse's answer."""


class _Mapping:
    __slots__ = ("expecting_key", "key", "keys")

    def __init__(self) -> None:
        self.key: str | None = None
        self.keys: set[str] = set()
        self.expecting_key = True


def scan_resource_types(text: str) -> dict[str, str] | None:
    """Logical ID -> type of a YAML template's resources; None when unsure."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        return None
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return None
    try:
        return _scan(yaml.parse(text, Loader=loader), yaml)
    except Exception:  # unsure, invalid YAML, anything else: the full parse answers, and says why
        # Not only yaml.YAMLError: libyaml's extension keeps the error classes of the first
        # `yaml` it was imported with, and an in-process re-import (pytester) makes new ones.
        return None


def _scan(events: Any, yaml: Any) -> dict[str, str]:
    types: dict[str, str] = {}
    stack: list[_Mapping | None] = []  # None: a sequence
    documents = values = 0
    for event in events:
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _Unsure
            continue
        if isinstance(event, yaml.AliasEvent):
            raise _Unsure
        if isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            _value_done(stack)
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue  # stream and document ends
        values += 1
        if values > MAX_EXPANDED_NODES or len(stack) >= MAX_DEPTH - 1:
            raise _Unsure
        tag = event.tag
        if tag is not None and tag not in CFN_TAGS:
            raise _Unsure  # YAML's own tags (!!binary...) and unknown ones: the full parse decides
        parent = stack[-1] if stack else None
        if parent is not None and parent.expecting_key:
            if not isinstance(event, yaml.ScalarEvent) or tag is not None:
                raise _Unsure  # a key that is not a plain string
            if event.value == "<<" or event.value in parent.keys:
                raise _Unsure  # a merge key, or a duplicate (the full parse says which)
            parent.keys.add(event.value)
            parent.key, parent.expecting_key = event.value, False
            continue
        path = _path(stack)
        if path[:1] == ["Resources"] and len(path) <= 2 and tag is not None:
            raise _Unsure  # a tag where the resources are listed: the full parse reads it
        if not stack and not isinstance(event, yaml.MappingStartEvent):
            raise _Unsure  # not a mapping at the top: the full parse refuses it
        if isinstance(event, yaml.ScalarEvent):
            if len(path) == 3 and path[0] == "Resources" and path[2] == "Type":
                if tag is not None or not _RESOURCE_TYPE.fullmatch(event.value):
                    raise _Unsure
                types[path[1]] = event.value
            _value_done(stack)
            continue
        if (
            isinstance(event, yaml.MappingStartEvent)
            and len(path) == 2
            and path[0] == "Resources"
            and not path[1].startswith(FOREACH)
        ):
            types.setdefault(path[1], "")  # filled by its Type
        stack.append(_Mapping() if isinstance(event, yaml.MappingStartEvent) else None)
    if documents != 1 or any(not resource_type for resource_type in types.values()):
        raise _Unsure  # no document, or a resource without a Type
    return types


def _path(stack: list[_Mapping | None]) -> list[str]:
    """The keys from the top to the value being read; a list ends the path."""
    path: list[str] = []
    for container in stack:
        if container is None or container.key is None:
            return [*path, "[]"]
        path.append(container.key)
    return path


def _value_done(stack: list[_Mapping | None]) -> None:
    parent = stack[-1] if stack else None
    if parent is not None:
        parent.expecting_key = True

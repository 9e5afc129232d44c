"""Read, parse and check CloudFormation templates locally, before any API call.

YAML short-form tags (``!Ref``, ``!GetAtt`` ...) are converted to their long form, so the body
is plain JSON data: that is what CloudFormation itself does, and what is sent as ``TemplateBody``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_cloudstack.errors import TemplateError
from pytest_cloudstack.template_file import read_template_bytes
from pytest_cloudstack.template_scan import (
    CFN_TAGS,
    FOREACH,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
)

_INTRINSICS = frozenset(f"Fn::{n}" for n in FUNCTIONS)
# Functions that are only valid inside the Rules section (parameter assertions).
_RULE_FUNCTIONS = frozenset(
    f"Fn::{n}" for n in "Contains EachMemberEquals EachMemberIn RefAll ValueOf ValueOfAll".split()
)
_PSEUDO = frozenset(
    "AWS::AccountId AWS::NotificationARNs AWS::NoValue AWS::Partition AWS::Region AWS::StackId"
    " AWS::StackName AWS::URLSuffix".split()
)
_SECTIONS = frozenset(
    "AWSTemplateFormatVersion Description Metadata Parameters Rules Mappings Conditions"
    " Transform Resources Outputs Hooks Globals".split()  # Globals: SAM
)
_IAM_NAMES = frozenset("RoleName ManagedPolicyName UserName GroupName InstanceProfileName".split())
_AUTO_EXPAND_TYPES = frozenset({"AWS::CloudFormation::Stack", "AWS::Serverless::Application"})
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT_NAMES = ("template.yaml", "template.yml", "template.json")

_Lines = dict[int, tuple[object, int, dict[str, int]]]  # id(dict) -> (dict, line, key lines)


@dataclass(frozen=True)
class ParameterSpec:
    """One entry of the template's ``Parameters`` section, values as CloudFormation sees them."""

    name: str
    type: str
    default: str | None
    no_echo: bool
    allowed_values: tuple[str, ...]
    allowed_pattern: str | None


@dataclass(frozen=True)
class Template:
    """A parsed, checked template; ``body`` is long-form JSON data in template order."""

    path: Path | None
    body: dict[str, Any]

    def parameters(self) -> dict[str, ParameterSpec]:
        """The declared parameters, in template order."""
        specs: dict[str, ParameterSpec] = {}
        for name, decl in _section(self.body, "Parameters").items():
            decl = decl if isinstance(decl, dict) else {}
            allowed = decl.get("AllowedValues")
            allowed = allowed if isinstance(allowed, list) else []
            pattern = decl.get("AllowedPattern")
            specs[name] = ParameterSpec(
                name=name,
                type=str(decl.get("Type", "String")),
                default=_cfn_str(decl.get("Default")),
                no_echo=str(_cfn_str(decl.get("NoEcho"))).lower() == "true",
                allowed_values=tuple(str(_cfn_str(v)) for v in allowed),
                allowed_pattern=None if pattern is None else str(pattern),
            )
        return specs

    def resource_types(self) -> dict[str, str]:
        """Logical ID -> resource type (loops of the language extensions are left out)."""
        return {
            logical_id: str(resource.get("Type"))
            for logical_id, resource in _section(self.body, "Resources").items()
            if not logical_id.startswith(FOREACH) and isinstance(resource, dict)
        }

    def output_names(self) -> tuple[str, ...]:
        """The declared output names, in template order."""
        return tuple(n for n in _section(self.body, "Outputs") if not n.startswith(FOREACH))

    def capabilities(self) -> tuple[str, ...]:
        """The capabilities CreateStack/UpdateStack must acknowledge for this template."""
        caps: set[str] = set()
        resources = _section(self.body, "Resources")
        for logical_id, resource_type in self.resource_types().items():
            if resource_type.startswith("AWS::IAM::"):
                caps.add("CAPABILITY_IAM")
                properties = resources[logical_id].get("Properties")
                if isinstance(properties, dict) and _IAM_NAMES & properties.keys():
                    caps.add("CAPABILITY_NAMED_IAM")
            if resource_type in _AUTO_EXPAND_TYPES:
                caps.add("CAPABILITY_AUTO_EXPAND")
        if self.has_transform():
            # The service expands transforms server-side; what they generate (SAM creates
            # roles, possibly named) must be acknowledged up front.
            caps |= {"CAPABILITY_AUTO_EXPAND", "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}
        elif _has_key(self.body, "Fn::Transform"):
            caps.add("CAPABILITY_AUTO_EXPAND")  # an inline macro needs it too
        return tuple(sorted(caps))

    def has_transform(self) -> bool:
        """Whether the template declares a top-level ``Transform`` (SAM, macros ...)."""
        return bool(self.body.get("Transform"))

    def to_json(self) -> str:
        """Compact JSON in template order: the ``TemplateBody`` sent to CloudFormation."""
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def content_hash(self) -> str:
        """SHA-256 (hex) of :meth:`to_json`; equal templates hash equal."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()


def find_default_template(rootdir: Path) -> Path | None:
    """The first of template.yaml, template.yml, template.json in ``rootdir``, or None."""
    for name in _DEFAULT_NAMES:
        candidate = rootdir / name
        if candidate.exists() and not candidate.is_dir():  # a FIFO is found, then refused
            return candidate
    return None


def load_template(source: Path | Mapping[str, Any]) -> Template:
    """Read, parse and check a template file, or a template a hook built as a mapping.

    Raises :class:`TemplateError` naming the file, the line where known, and the place
    inside the template (``Resources/Queue/Properties/...``).
    """
    if isinstance(source, Mapping):
        try:  # a JSON round trip deep-copies and proves it can be sent as TemplateBody
            body: object = json.loads(json.dumps(source, default=_plain, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise TemplateError(f"template cannot be sent as JSON: {exc}") from None
        return _Checker(None, body, {}).check()
    path = Path(source)
    body, lines = _parse_file(path)
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"template cannot be sent as JSON: {exc}", path) from None
    return _Checker(path, body, lines).check()


def read_resource_types(path: Path) -> dict[str, str]:
    """Logical ID -> type of the template's top-level resources, read without the checks.

    A wrong reference (``!Ref NotesTabel``) leaves the resource list as it is, so the generated
    fixtures still exist; only a template that cannot be read or parsed raises
    :class:`TemplateError` (the deploy reports the checks' errors).
    """
    body, _ = _parse_file(path)
    if not isinstance(body, dict):
        raise TemplateError("template must be a mapping at the top level", path, 1)
    return Template(path, body).resource_types()


def _parse_file(path: Path) -> tuple[object, _Lines]:
    """Read (bounded) and parse (bounded in depth and alias expansion) a template file."""
    text = _read(path)
    if path.suffix.lower() == ".json":
        try:
            body: object = json.loads(text)
        except json.JSONDecodeError as exc:
            message = f"invalid JSON: {exc.msg} (column {exc.colno})"
            raise TemplateError(message, path, exc.lineno) from None
        except RecursionError:
            raise TemplateError(_too_deep(), path) from None
        if _json_depth(body) > MAX_DEPTH:
            raise TemplateError(_too_deep(), path)
        return body, {}
    return _parse_yaml(text, path)


def _json_depth(value: object) -> int:
    """How deeply lists and mappings nest in ``value`` (iteratively: no recursion limit)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children:
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep() -> str:
    return (
        f"lists and mappings nest more than {MAX_DEPTH} levels deep: no CloudFormation template "
        "needs that many; is this the right file?"
    )


def resolve_parameters(template: Template, given: Mapping[str, str]) -> dict[str, str]:
    """Template defaults overridden by ``given``, checked against the template's constraints."""
    specs = template.parameters()
    unknown = [name for name in given if name not in specs]
    if unknown:
        declared = f"it declares: {', '.join(specs)}" if specs else "it declares none"
        noun = "parameter" if len(unknown) == 1 else "parameters"
        names = ", ".join(repr(name) for name in unknown)
        raise TemplateError(f"template has no {noun} {names}; {declared}", template.path)
    values = {name: given.get(name, spec.default) for name, spec in specs.items()}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        names, one = ", ".join(repr(name) for name in missing), len(missing) == 1
        head = f"parameter {names} has" if one else f"parameters {names} have"
        how = f"{missing[0]}=VALUE or set it" if one else "NAME=VALUE for each or set them"
        message = f"{head} no value: pass --cloud-stack-param {how} in the ini key"
        raise TemplateError(f"{message} cloud_stack_parameters", template.path)
    resolved = {name: str(value) for name, value in values.items()}
    for name, value in resolved.items():
        _check_allowed(specs[name], value, template.path)
    return resolved


def _check_allowed(spec: ParameterSpec, value: str, path: Path | None) -> None:
    # For list types CloudFormation applies AllowedValues/AllowedPattern to each item.
    is_list = spec.type == "CommaDelimitedList" or spec.type.startswith("List<")
    what = "item" if is_list else "value"
    for item in value.split(",") if is_list else [value]:
        shown = "<hidden: NoEcho>" if spec.no_echo else repr(item)
        if spec.allowed_values and item not in spec.allowed_values:
            allowed = ", ".join(spec.allowed_values)
            message = f"parameter {spec.name!r} {what} {shown} is not one of its AllowedValues: "
            raise TemplateError(message + allowed, path)
        if spec.allowed_pattern is not None and not re.fullmatch(spec.allowed_pattern, item):
            message = f"parameter {spec.name!r} {what} {shown} does not match its AllowedPattern"
            raise TemplateError(f"{message} {spec.allowed_pattern!r}", path)


def _section(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    section = body.get(name)
    return section if isinstance(section, dict) else {}


def _cfn_str(value: object) -> str | None:
    """A scalar as CloudFormation stringifies it (YAML true -> "true", lists comma-joined)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(_cfn_str(item)) for item in value)
    return str(value)


def _has_key(value: object, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(item, key) for item in value.values())
    return isinstance(value, list) and any(_has_key(item, key) for item in value)


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _read(path: Path) -> str:
    data = read_template_bytes(path)
    try:
        return data.decode("utf-8-sig")  # tolerate a BOM, as editors write one
    except UnicodeDecodeError as exc:
        raise TemplateError(f"template is not UTF-8 text (byte offset {exc.start})", path) from None


class _Loader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation tags; records the line of every mapping it builds."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines: _Lines = {}
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # PyYAML composes recursively: a few hundred levels would end in a RecursionError.
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise TemplateError(_too_deep(), line=int(event.start_mark.line) + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def cfn_mapping(self, node: yaml.MappingNode) -> dict[str, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:  # before merging: `<<: *base` may be overridden
            if not isinstance(key_node, yaml.ScalarNode):
                raise TemplateError("mapping keys must be strings", line=_line(key_node))
            if key_node.tag != "tag:yaml.org,2002:merge" and key_node.value in seen:
                # CloudFormation rejects duplicate keys; PyYAML would keep the last silently.
                raise TemplateError(f"duplicate key {key_node.value!r}", line=_line(key_node))
            seen.add(key_node.value)
        self.flatten_mapping(node)
        data: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise TemplateError("mapping keys must be strings", line=_line(key_node))
            # Keys are strings in CloudFormation, whatever they look like (`2010: x`).
            data[key_node.value] = self.construct_object(value_node, deep=True)
            key_lines[key_node.value] = _line(key_node)
        self.lines[id(data)] = (data, _line(node), key_lines)
        return data

    def cfn_tag(self, node: yaml.Node) -> dict[str, Any]:
        name = CFN_TAGS[str(node.tag)]
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = self.construct_scalar(node)
            if name == "Fn::GetAtt" and "." in value:
                value = value.split(".", 1)  # attributes may contain dots: Outputs.Name
        elif isinstance(node, yaml.SequenceNode):
            value = self.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)
            value = self.cfn_mapping(node)
        data = {name: value}
        self.lines[id(data)] = (data, _line(node), {name: _line(node)})
        return data

    def unknown_tag(self, node: yaml.Node) -> None:
        tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
        known = ", ".join(sorted(CFN_TAGS))
        raise TemplateError(f"unknown tag {tag}; known tags: {known}", line=_line(node))


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


# CloudFormation reads `2010-09-09` and `=` as strings, where YAML 1.1 sees a date / a "value".
_DROPPED_RESOLVERS = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_RESOLVERS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.cfn_mapping)
for _tag in CFN_TAGS:
    _Loader.add_constructor(_tag, _Loader.cfn_tag)
_NO_JSON_FORM = ("binary", "set", "omap", "pairs", "timestamp")
for _other in (None, *(f"tag:yaml.org,2002:{t}" for t in _NO_JSON_FORM)):
    _Loader.add_constructor(_other, _Loader.unknown_tag)


def _parse_yaml(text: str, path: Path) -> tuple[object, _Lines]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, loader.lines
        _check_expansion(node)  # before anything walks the aliases: they share nodes until then
        return loader.construct_document(node), loader.lines
    except TemplateError as exc:
        raise TemplateError(exc.message, path, exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = "; ".join(p for p in (exc.context, exc.problem) if p)
        column = f" (column {mark.column + 1})" if mark else ""
        line = mark.line + 1 if mark else None
        raise TemplateError(f"invalid YAML: {problem}{column}", path, line) from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"invalid YAML: {exc}", path) from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond ``MAX_EXPANDED_NODES`` nodes or
    ``MAX_DEPTH`` levels, or that contains itself. Iterative, and linear in the distinct nodes."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        key = id(node)
        if key in size:
            continue
        children = _children(node)
        if not children_done:
            if key in open_nodes:
                message = "an alias refers to the collection that holds it: it never ends"
                raise TemplateError(message, line=_line(node))
            open_nodes.add(key)
            pending.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    message = "an alias refers to the collection that holds it: it never ends"
                    raise TemplateError(message, line=_line(child))
                if id(child) not in size:
                    pending.append((child, False))
            continue
        open_nodes.discard(key)
        size[key] = 1 + sum(size[id(child)] for child in children)
        depth[key] = 1 + max((depth[id(child)] for child in children), default=0)
        if size[key] > MAX_EXPANDED_NODES:
            raise TemplateError(
                f"YAML aliases (*name) expand this template to more than "
                f"{MAX_EXPANDED_NODES:,} values: refused (a few hundred bytes of nested aliases "
                "can expand to billions)",
                line=_line(node),
            )
        if depth[key] > MAX_DEPTH:
            raise TemplateError(_too_deep(), line=_line(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


class _Checker:
    """Structure and reference checks; raises the first error in template order."""

    def __init__(self, path: Path | None, body: object, lines: _Lines) -> None:
        self.path = path
        self.body = body
        self.lines = lines
        self.relaxed = False
        self.parameters: list[str] = []
        self.resources: list[str] = []
        self.conditions: list[str] = []

    def fail(self, message: str, line: int | None) -> TemplateError:
        return TemplateError(message, self.path, line)

    def line_of(self, container: object, key: str | None = None) -> int | None:
        entry = self.lines.get(id(container))
        if entry is None:
            return None
        return entry[2].get(key, entry[1]) if key is not None else entry[1]

    def check(self) -> Template:
        body = self.body
        if body is None:
            raise self.fail("template is empty", None)
        if not isinstance(body, dict):
            kind = type(body).__name__
            raise self.fail(f"template must be a mapping at the top level, not a {kind}", 1)
        self.relaxed = bool(body.get("Transform"))
        for key in body:
            if key not in _SECTIONS:
                expected = ", ".join(sorted(_SECTIONS))
                message = f"unknown top-level section {key!r}; expected one of: {expected}"
                raise self.fail(message, self.line_of(body, key))
        resources = body.get("Resources")
        if not isinstance(resources, dict) or not resources:
            message = "template has no Resources; CloudFormation needs at least one resource"
            raise self.fail(message, self.line_of(body, "Resources"))
        for logical_id in resources:
            self.check_entry("Resources", resources, logical_id, "Type")
        for section in ("Parameters", "Conditions", "Outputs", "Mappings", "Rules"):
            if section in body and not isinstance(body[section], dict):
                raise self.fail(f"{section} must be a mapping", self.line_of(body, section))
        parameters = body.get("Parameters", {})
        for name in parameters:
            self.check_entry("Parameters", parameters, name, "Type")
            pattern = parameters[name].get("AllowedPattern")
            try:
                re.compile(pattern if isinstance(pattern, str) else "")
            except re.error as exc:
                message = f"Parameters/{name}/AllowedPattern is not a valid regex: {exc}"
                raise self.fail(message, self.line_of(parameters[name], "AllowedPattern")) from None
        for name in body.get("Outputs", {}):
            self.check_entry("Outputs", body["Outputs"], name, "Value")
        self.parameters = list(parameters)
        self.resources = [r for r in resources if not r.startswith(FOREACH)]
        self.conditions = list(body.get("Conditions", {}))
        self.walk(body, (), None)
        return Template(self.path, body)

    def check_entry(self, section: str, parent: dict[str, Any], name: str, required: str) -> None:
        if name.startswith(FOREACH):
            return
        where = f"{section}/{name}"
        entry = parent[name]
        if not isinstance(entry, dict):
            raise self.fail(f"{where} must be a mapping", self.line_of(parent, name))
        if required not in entry:
            raise self.fail(f"{where} has no {required}", self.line_of(entry))
        if required == "Type" and not (isinstance(entry["Type"], str) and entry["Type"]):
            raise self.fail(f"{where}/Type must be a non-empty string", self.line_of(entry, "Type"))

    def undefined(
        self, what: str, name: object, where: str, known: list[str], line: int | None = None
    ) -> None:
        if name in known:
            return
        if self.relaxed and known is not self.conditions:
            return  # a Transform generates resources (and their IDs) we cannot see
        own = [n for n in known if n not in _PSEUDO]
        shown = ", ".join(own[:30]) + (f", ... ({len(own) - 30} more)" if len(own) > 30 else "")
        message = f"{what} {name!r} in {where}; defined: {shown or 'none'}"
        close = difflib.get_close_matches(str(name), known, n=1)
        raise TemplateError(message + (f"; did you mean {close[0]!r}?" if close else ""), line=line)

    def walk(self, value: object, path: tuple[str, ...], line: int | None) -> None:
        if isinstance(value, list):
            for index, item in enumerate(value):
                self.walk(item, (*path, str(index)), line)
            return
        if not isinstance(value, dict):
            return
        line = self.line_of(value) or line
        try:
            self.check_node(value, path)
        except TemplateError as exc:
            raise self.fail(exc.message, exc.line or line) from None
        for key, item in value.items():
            self.walk(item, (*path, key), self.line_of(value, key) or line)

    def check_node(self, node: dict[str, Any], path: tuple[str, ...]) -> None:
        where = "/".join(path)
        for key in node:
            if key.startswith("Fn::") and key not in _INTRINSICS and not key.startswith(FOREACH):
                if not (path[:1] == ("Rules",) and key in _RULE_FUNCTIONS):
                    known = ", ".join(sorted(_INTRINSICS))
                    message = f"unknown intrinsic function {key} in {where}; known: {known}"
                    raise TemplateError(message, line=self.line_of(node, key))
        if len(path) == 2 and path[0] in ("Resources", "Outputs") and "Condition" in node:
            line = self.line_of(node, "Condition")
            self.undefined(
                "Condition to undefined", node["Condition"], where, self.conditions, line
            )
        if len(path) == 2 and path[0] == "Resources" and "DependsOn" in node:
            depends, line = node["DependsOn"], self.line_of(node, "DependsOn")
            for target in depends if isinstance(depends, list) else [depends]:
                self.undefined("DependsOn on undefined", target, where, self.resources, line)
        if len(node) == 1:
            ((key, arg),) = node.items()
            self.check_intrinsic(key, arg, path, where)

    def check_intrinsic(self, key: str, arg: Any, path: tuple[str, ...], where: str) -> None:
        ids = [*self.parameters, *self.resources, *sorted(_PSEUDO)]
        if key == "Ref":
            if not isinstance(arg, str):
                raise TemplateError(f"Ref in {where} must name a logical ID (a string)")
            self.undefined("Ref to undefined", arg, where, ids)
        elif key == "Condition" and path[:1] == ("Conditions",):
            self.undefined("Condition to undefined", arg, where, self.conditions)
        elif key == "Fn::GetAtt":
            if isinstance(arg, str) and "." in arg:
                arg = arg.split(".", 1)
            shape = [type(item) for item in arg] if isinstance(arg, list) else []
            if shape not in ([str, str], [str, dict]):  # the attribute may be a {"Ref": ...}
                raise TemplateError(
                    f"Fn::GetAtt in {where} must be [LogicalId, Attribute] or 'LogicalId.Attribute'"
                )
            self.undefined("Fn::GetAtt to undefined resource", arg[0], where, self.resources)
        elif key == "Fn::Sub":
            self.check_sub(arg, where, ids)
        elif key == "Fn::If":
            if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
                raise TemplateError(f"Fn::If in {where} must be [Condition, IfTrue, IfFalse]")
            self.undefined("Condition to undefined", arg[0], where, self.conditions)

    def check_sub(self, arg: object, where: str, ids: list[str]) -> None:
        variables: dict[str, Any] = {}
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            arg, variables = arg
        if not isinstance(arg, str):
            raise TemplateError(f"Fn::Sub in {where} must be a string or [string, {{variables}}]")
        for name in _SUB_VARIABLE.findall(arg):
            if name.startswith("!") or name in variables:
                continue  # ${!Literal} is written out as ${Literal}
            if "." in name:  # ${Resource.Attribute} is a GetAtt
                self.undefined("Fn::Sub to undefined", name.split(".", 1)[0], where, self.resources)
            else:
                self.undefined("Fn::Sub to undefined", name, where, ids)

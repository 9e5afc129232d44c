"""Every setting of the plugin: registration (CLI + ini sharing one help text) and one resolver.

Precedence for each setting: command line, then environment variable (where one exists), then
ini, then the default. ``resolve(config)`` runs once at configure time and returns a frozen
``Settings``; an invalid value raises ``ConfigurationError`` (shown as ``pytest.UsageError``) that
names the setting and the valid values.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pytest_cloudstack.errors import ConfigurationError

GROUP = "cloudstack"
DEFAULT_TIMEOUT = 3600.0
DEFAULT_SWEEP_AGE = "24h"
ENV_TARGET = "CLOUD_STACK_TARGET"
ENV_NAME = "CLOUD_STACK_NAME"


class Keep(enum.Enum):
    """What happens to the stack when the session ends."""

    NEVER = "never"
    FAILED = "failed"
    ALWAYS = "always"


class SamTransform(enum.Enum):
    """Where a SAM template is turned into plain CloudFormation."""

    AUTO = "auto"
    CLIENT = "client"
    SERVICE = "service"


class TargetKind(enum.Enum):
    AWS = "aws"
    LOCAL = "local"
    ENDPOINT = "endpoint"


@dataclass(frozen=True)
class TargetSpec:
    """Where the stack goes: real AWS, the embedded emulator, or an AWS-compatible endpoint."""

    kind: TargetKind
    endpoint_url: str | None = None

    def __str__(self) -> str:
        return self.endpoint_url if self.kind is TargetKind.ENDPOINT else self.kind.value  # type: ignore[return-value]


@dataclass(frozen=True)
class Settings:
    """The resolved, validated settings of one pytest run."""

    enabled: bool
    target: TargetSpec
    template: Path | None
    name: str | None
    prefix: str
    parameters: tuple[tuple[str, str], ...]
    parameter_overrides: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]
    region: str | None
    profile: str | None
    keep: Keep
    reuse: bool
    timeout: float
    env_names: tuple[str, ...]
    allowed_accounts: tuple[str, ...]
    required: bool
    rootdir: Path
    auto_fixtures: bool = True
    artifact_bucket: str | None = None
    sam_transform: SamTransform = SamTransform.AUTO
    local_packages: tuple[str, ...] = ()
    force_delete: bool = False
    sweep_age: float | None = None  # seconds; set when --cloud-stack-sweep was given
    plan: bool = False


@dataclass(frozen=True)
class _Option:
    flags: tuple[str, ...]
    ini: str | None
    help: str
    ini_type: str = "string"
    cli: Mapping[str, Any] | None = None
    ini_default: Any = None


_OPTIONS: tuple[_Option, ...] = (
    _Option(
        ("--cloud-stack",),
        "cloud_stack_target",
        "enable the cloud stack; TARGET is aws, local or an endpoint URL "
        f"(default: ${ENV_TARGET}, then the ini value, then aws); ${ENV_TARGET} set also enables",
        cli={"nargs": "?", "const": "", "default": None, "metavar": "TARGET"},
    ),
    _Option(
        ("--cloud-stack-template",),
        "cloud_stack_template",
        "CloudFormation/SAM template, YAML or JSON "
        "(default: template.yaml, template.yml or template.json at rootdir)",
        cli={"metavar": "PATH"},
    ),
    _Option(
        ("--cloud-stack-name",),
        "cloud_stack_name",
        f"explicit stack name instead of one per branch (env ${ENV_NAME})",
        cli={"metavar": "NAME"},
    ),
    _Option((), "cloud_stack_prefix", "stack name prefix (default: the rootdir's name)"),
    _Option(
        ("--cloud-stack-param",),
        "cloud_stack_parameters",
        "template parameter KEY=VALUE (repeatable; ini: one per line)",
        ini_type="linelist",
        cli={"action": "append", "default": [], "metavar": "KEY=VALUE"},
    ),
    _Option(
        (), "cloud_stack_tags", "extra stack tags, KEY=VALUE one per line", ini_type="linelist"
    ),
    _Option(
        ("--cloud-stack-region",),
        "cloud_stack_region",
        "region (default: the boto3 chain; us-east-1 on emulators)",
        cli={"metavar": "REGION"},
    ),
    _Option(
        ("--cloud-stack-profile",), "cloud_stack_profile", "AWS profile", cli={"metavar": "NAME"}
    ),
    _Option(
        ("--cloud-stack-keep",),
        "cloud_stack_keep",
        "keep the stack after the session: never (default), failed (if a test failed), always "
        "(the bare flag means always)",
        cli={"nargs": "?", "const": "always", "metavar": "WHEN"},
    ),
    _Option(
        ("--cloud-stack-reuse",),
        "cloud_stack_reuse",
        "adopt an existing stack of this name created by pytest-cloudstack, update it in place, "
        "skip the update when nothing changed",
        ini_type="bool",
        cli={"action": "store_true", "default": None},
    ),
    _Option(
        ("--cloud-stack-timeout",),
        "cloud_stack_timeout",
        f"bound in seconds on the deploy and on the delete (default {DEFAULT_TIMEOUT:.0f})",
        cli={"metavar": "SECONDS"},
    ),
    _Option(
        ("--cloud-stack-env",),
        "cloud_stack_env",
        "also export the stack name under this environment variable, e.g. AWS_SAM_STACK_NAME "
        "(repeatable; ini: one per line)",
        ini_type="linelist",
        cli={"action": "append", "default": [], "metavar": "NAME"},
    ),
    _Option(
        (),
        "cloud_stack_allowed_accounts",
        "AWS account IDs the plugin may deploy to (target aws); any other account is refused "
        "before anything changes",
        ini_type="linelist",
    ),
    _Option(
        (),
        "cloud_stack_required",
        "true: tests that need the stack error instead of skipping when --cloud-stack is absent",
        ini_type="bool",
    ),
    _Option(
        (),
        "cloud_stack_auto_fixtures",
        "generate one fixture per supported template resource, named in snake_case from its "
        "logical ID (default true)",
        ini_type="bool",
        ini_default=True,
    ),
    _Option(
        (),
        "cloud_stack_artifact_bucket",
        "bucket for packaged code and large templates (default: one the plugin owns per account "
        "and region)",
    ),
    _Option(
        (),
        "cloud_stack_sam_transform",
        "where SAM templates are transformed: auto (default), client (aws-sam-translator here), "
        "service (CloudFormation)",
    ),
    _Option(
        (),
        "cloud_stack_local_packages",
        "host packages that Lambda handlers run on the local target may import, one per line "
        "(default: none beyond boto3)",
        ini_type="linelist",
    ),
    _Option(
        (),
        "cloud_stack_force_delete",
        "true: when a delete ends in DELETE_FAILED, force it and list what was left behind",
        ini_type="bool",
    ),
    _Option(
        ("--cloud-stack-sweep",),
        None,
        "delete the stacks pytest-cloudstack created that are older than AGE "
        f"(default {DEFAULT_SWEEP_AGE}; e.g. 90m, 12h, 2d) or past their expiry, then exit",
        cli={"nargs": "?", "const": DEFAULT_SWEEP_AGE, "default": None, "metavar": "AGE"},
    ),
    _Option(
        ("--cloud-stack-plan",),
        None,
        "show what a deploy would change, then exit without changing anything",
        cli={"action": "store_true", "default": False},
    ),
)


def add_options(parser: pytest.Parser) -> None:
    """Register every option in the ``cloudstack`` group and its ini key, with one help text."""
    group = parser.getgroup(GROUP, "cloud stack (pytest-cloudstack)")
    for option in _OPTIONS:
        if option.flags:
            dest = option.flags[0].lstrip("-").replace("-", "_")
            group.addoption(*option.flags, dest=dest, help=option.help, **dict(option.cli or {}))
        if option.ini:
            default: Any = option.ini_default
            if option.ini_type == "linelist":
                default = []
            elif option.ini_type == "bool" and default is None:
                default = False  # pytest < 8 answers [] for an unset key without a default
            parser.addini(option.ini, option.help, type=option.ini_type, default=default)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# resolution


def resolve(config: pytest.Config, environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting once (CLI > env > ini > default) and validate it."""
    env = os.environ if environ is None else environ
    opt = config.option
    # The environment enables too, so that a CI job needs no extra flag; the ini only chooses
    # the target (it is committed, and plain `pytest` must stay a run without the stack).
    enabled = opt.cloud_stack is not None or bool(env.get(ENV_TARGET, "").strip())
    target_text = _first(
        opt.cloud_stack or None, env.get(ENV_TARGET), _ini(config, "cloud_stack_target")
    )
    target = parse_target(
        target_text or "aws", source=_source(opt.cloud_stack, env.get(ENV_TARGET))
    )
    keep_text = _first(opt.cloud_stack_keep, _ini(config, "cloud_stack_keep")) or Keep.NEVER.value
    rootdir = Path(config.rootpath)
    return Settings(
        enabled=enabled,
        target=target,
        template=_template_path(config),
        name=_stack_name(
            _first(opt.cloud_stack_name, env.get(ENV_NAME), _ini(config, "cloud_stack_name"))
        ),
        prefix=_first(_ini(config, "cloud_stack_prefix")) or rootdir.name,
        parameters=parse_pairs(
            _lines(config, "cloud_stack_parameters"),
            what="template parameter",
            flag="ini cloud_stack_parameters",
        ),
        parameter_overrides=parse_pairs(
            opt.cloud_stack_param, what="template parameter", flag="--cloud-stack-param"
        ),
        tags=parse_pairs(
            _lines(config, "cloud_stack_tags"), what="stack tag", flag="ini cloud_stack_tags"
        ),
        region=_first(opt.cloud_stack_region, _ini(config, "cloud_stack_region")),
        profile=_first(opt.cloud_stack_profile, _ini(config, "cloud_stack_profile")),
        keep=parse_keep(keep_text),
        reuse=bool(opt.cloud_stack_reuse) or bool(config.getini("cloud_stack_reuse")),
        timeout=parse_timeout(_first(opt.cloud_stack_timeout, _ini(config, "cloud_stack_timeout"))),
        env_names=parse_env_names([*_lines(config, "cloud_stack_env"), *opt.cloud_stack_env]),
        allowed_accounts=parse_accounts(_lines(config, "cloud_stack_allowed_accounts")),
        required=bool(config.getini("cloud_stack_required")),
        rootdir=rootdir,
        auto_fixtures=bool(config.getini("cloud_stack_auto_fixtures")),
        artifact_bucket=_ini(config, "cloud_stack_artifact_bucket"),
        sam_transform=parse_sam_transform(_ini(config, "cloud_stack_sam_transform") or "auto"),
        local_packages=tuple(_lines(config, "cloud_stack_local_packages")),
        force_delete=bool(config.getini("cloud_stack_force_delete")),
        sweep_age=None if opt.cloud_stack_sweep is None else parse_age(opt.cloud_stack_sweep),
        plan=bool(opt.cloud_stack_plan),
    )


def parse_target(text: str, source: str = "ini cloud_stack_target") -> TargetSpec:
    """``aws``, ``local`` or an ``http(s)://host[:port]`` endpoint URL."""
    value = text.strip()
    if value.lower() in ("aws", "local"):
        return TargetSpec(TargetKind(value.lower()))
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.hostname:
        try:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            pass
        else:
            return TargetSpec(TargetKind.ENDPOINT, value.rstrip("/"))
    hint = ""
    if source == "--cloud-stack" and os.path.exists(value):
        # `pytest --cloud-stack tests/`: the optional value swallowed a path argument.
        hint = f" ('{value}' is a path: write --cloud-stack=TARGET, or put the paths first)"
    raise ConfigurationError(
        f"invalid cloud stack target {text!r} ({source}): use aws, local, "
        f"or an endpoint URL such as http://127.0.0.1:4566{hint}"
    )


def parse_keep(text: str) -> Keep:
    try:
        return Keep(text.strip().lower())
    except ValueError:
        valid = ", ".join(k.value for k in Keep)
        hint = ""
        if os.path.exists(text):
            hint = f" ('{text}' is a path: write --cloud-stack-keep=WHEN, or put the paths first)"
        raise ConfigurationError(
            f"invalid value {text!r} for --cloud-stack-keep / ini cloud_stack_keep: "
            f"use one of {valid}{hint}"
        ) from None


def parse_sam_transform(text: str) -> SamTransform:
    try:
        return SamTransform(text.strip().lower())
    except ValueError:
        valid = ", ".join(k.value for k in SamTransform)
        raise ConfigurationError(
            f"invalid value {text!r} for ini cloud_stack_sam_transform: use one of {valid}"
        ) from None


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """``90m``, ``12h``, ``2d`` or a number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ConfigurationError(
            f"invalid age {text!r} for --cloud-stack-sweep: use a positive number with a unit, "
            "e.g. 90m, 12h or 2d (no unit: seconds)"
        )
    return float(match.group(1)) * _AGE_UNITS[match.group(2) or "s"]


def parse_timeout(text: str | None) -> float:
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigurationError(
            f"invalid value {text!r} for --cloud-stack-timeout / ini cloud_stack_timeout: "
            "use a positive number of seconds, e.g. 1800"
        )
    return value


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_env_names(names: Sequence[str]) -> tuple[str, ...]:
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise ConfigurationError(
                f"invalid environment variable name {name!r} for --cloud-stack-env / ini "
                "cloud_stack_env: use letters, digits and underscores, e.g. AWS_SAM_STACK_NAME"
            )
    return tuple(dict.fromkeys(names))


def parse_accounts(values: Sequence[str]) -> tuple[str, ...]:
    accounts: list[str] = []
    for value in values:
        for account in value.replace(",", " ").split():
            if not re.fullmatch(r"\d{12}", account):
                raise ConfigurationError(
                    f"invalid account ID {account!r} in ini cloud_stack_allowed_accounts: "
                    "use 12-digit AWS account IDs, one per line"
                )
            accounts.append(account)
    return tuple(accounts)


def parse_pairs(items: Sequence[str], what: str, flag: str) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` items; later items override earlier ones with the same key."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(
                f"invalid {what} {item!r} ({flag}): expected KEY=VALUE, e.g. Stage=test"
            )
        pairs[key.strip()] = value.strip()
    return tuple(pairs.items())


def _stack_name(name: str | None) -> str | None:
    if name is None:
        return None
    if not re.fullmatch(r"[A-Za-z][-A-Za-z0-9]{0,127}", name):
        raise ConfigurationError(
            f"invalid stack name {name!r} (--cloud-stack-name / ${ENV_NAME} / ini cloud_stack_name): "
            "CloudFormation allows letters, digits and '-', starting with a letter, "
            "at most 128 characters"
        )
    return name


def _template_path(config: pytest.Config) -> Path | None:
    # A path on the command line is relative to where pytest was invoked; one in the ini file is
    # relative to that file, as pytest does for its own path settings.
    if config.option.cloud_stack_template:
        return (config.invocation_params.dir / str(config.option.cloud_stack_template)).resolve()
    ini_value = _ini(config, "cloud_stack_template")
    if ini_value:
        base = config.inipath.parent if config.inipath else config.rootpath
        return (base / ini_value).resolve()
    return None


def _ini(config: pytest.Config, name: str) -> str | None:
    value = config.getini(name)
    if not isinstance(value, str):
        # pytest < 8 answers [] for an unset string key whose default is None.
        return None
    return value.strip() or None


def _lines(config: pytest.Config, name: str) -> list[str]:
    return [line.strip() for line in config.getini(name) if line.strip()]


def _first(*values: str | None) -> str | None:
    for value in values:
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _source(cli: str | None, env: str | None) -> str:
    if cli:
        return "--cloud-stack"
    if env:
        return f"${ENV_TARGET}"
    return "ini cloud_stack_target"

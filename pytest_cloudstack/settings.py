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
from typing import Any, TypeVar
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


class LintMode(enum.Enum):
    """ini ``cloud_stack_lint``: which cfn-lint findings stop the run before the deploy."""

    ERRORS = "errors"
    WARNINGS = "warnings"
    OFF = "off"


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
    lint: LintMode = LintMode.ERRORS
    local_packages: tuple[str, ...] = ()
    force_delete: bool = False
    sweep_age: float | None = None  # seconds; set when --cloud-stack-sweep was given
    plan: bool = False
    share: bool = False  # sessions of one stack name share it: first deploys, last deletes
    warm_start: bool = False  # local: fork the emulator from a pre-imported warm parent
    upgrade_from: str | None = None  # a git revision: deploy it first, then update to the tree
    stateful_types: tuple[str, ...] = ()
    allow_destroy: tuple[str, ...] = ()
    #: deploy before collection and treat every test as needing the stack (suites that read the
    #: stack by name, through ``env_names``, never ask for the ``cloud_stack`` fixture)
    autouse: bool = False
    #: ini ``cloud_stack_stacks``: every stack of the session, (key, template), in deploy order;
    #: empty for the single-stack form (``cloud_stack_template`` or the default template)
    stacks: tuple[tuple[str, Path], ...] = ()
    #: ``cloud_stack_env`` lines ``ENV = KEY``: another stack's name under ``ENV``
    env_keys: tuple[tuple[str, str], ...] = ()


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
        ("--cloud-stack-share",),
        "cloud_stack_share",
        "sessions of the same stack name (CI shards of one branch) share one stack: the first "
        "deploys, the others join, the last one out deletes it",
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
        "cloud_stack_stacks",
        "several stacks in one session, KEY = PATH one per line (a template), in deploy order; "
        "the first is cloud_stack, all are in the cloud_stacks fixture",
        ini_type="linelist",
    ),
    _Option(
        (),
        "cloud_stack_autouse",
        "true: deploy before test modules are imported, and every test needs the stack (for "
        "suites that read it by name); default true when cloud_stack_env is set, else false",
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
        "cloud_stack_lint",
        "the cfn-lint template gate: errors (default: stop on errors, show warnings), "
        "warnings (stop on both), off",
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
        "cloud_stack_local_warm_start",
        "local target: fork the emulator from a warm parent that has moto imported: auto "
        "(default: on, except in CI), true, false (env $CLOUD_STACK_WARM_START wins)",
    ),
    _Option(
        (),
        "cloud_stack_force_delete",
        "true: when a delete ends in DELETE_FAILED, force it and list what was left behind",
        ini_type="bool",
    ),
    _Option(
        ("--cloud-stack-upgrade-from",),
        "cloud_stack_upgrade_from",
        "deploy the project as it is at git REF first, then update the stack to the working "
        "tree, refusing updates that replace or delete stateful resources (e.g. origin/main)",
        cli={"metavar": "REF"},
    ),
    _Option(
        (),
        "cloud_stack_stateful_types",
        "more resource types whose replacement or deletion loses data, one per line",
        ini_type="linelist",
    ),
    _Option(
        (),
        "cloud_stack_allow_destroy",
        "logical IDs or resource types the upgrade check may replace or delete, one per line",
        ini_type="linelist",
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
    env_lines = [line for line in _lines(config, "cloud_stack_env") if "=" not in line]
    env_names = parse_env_names([*env_lines, *opt.cloud_stack_env])
    stacks = parse_stacks(_lines(config, "cloud_stack_stacks"), _ini_base(config))
    if stacks and (opt.cloud_stack_template or _ini(config, "cloud_stack_template")):
        raise ConfigurationError(
            "ini cloud_stack_stacks and cloud_stack_template (or --cloud-stack-template) both "
            "name templates: list every stack in cloud_stack_stacks and drop the other"
        )
    env_keys = parse_env_keys(
        [line for line in _lines(config, "cloud_stack_env") if "=" in line],
        [key for key, _ in stacks],
    )
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
        reuse=bool(opt.cloud_stack_reuse) or _ini_bool(config, "cloud_stack_reuse"),
        share=bool(opt.cloud_stack_share) or _ini_bool(config, "cloud_stack_share"),
        timeout=parse_timeout(_first(opt.cloud_stack_timeout, _ini(config, "cloud_stack_timeout"))),
        env_names=env_names,
        allowed_accounts=parse_accounts(_lines(config, "cloud_stack_allowed_accounts")),
        required=_ini_bool(config, "cloud_stack_required"),
        rootdir=rootdir,
        auto_fixtures=_ini_bool(config, "cloud_stack_auto_fixtures"),
        artifact_bucket=_ini(config, "cloud_stack_artifact_bucket"),
        sam_transform=parse_choice(
            SamTransform,
            _ini(config, "cloud_stack_sam_transform") or "auto",
            "cloud_stack_sam_transform",
        ),
        lint=parse_choice(
            LintMode, _ini(config, "cloud_stack_lint") or "errors", "cloud_stack_lint"
        ),
        local_packages=tuple(_lines(config, "cloud_stack_local_packages")),
        force_delete=_ini_bool(config, "cloud_stack_force_delete"),
        sweep_age=None if opt.cloud_stack_sweep is None else parse_age(opt.cloud_stack_sweep),
        plan=bool(opt.cloud_stack_plan),
        warm_start=parse_warm_start(env, _ini(config, "cloud_stack_local_warm_start")),
        upgrade_from=_first(opt.cloud_stack_upgrade_from, _ini(config, "cloud_stack_upgrade_from")),
        stateful_types=tuple(_lines(config, "cloud_stack_stateful_types")),
        allow_destroy=tuple(_lines(config, "cloud_stack_allow_destroy")),
        autouse=parse_autouse(
            _ini(config, "cloud_stack_autouse"), [*env_names, *(env for env, _ in env_keys)]
        ),
        stacks=stacks,
        env_keys=env_keys,
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


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def parse_autouse(text: str | None, env_names: Sequence[str]) -> bool:
    """Explicit ``true``/``false``; unset: on exactly when the suite reads the stack by name."""
    if text is None:
        return bool(env_names)
    value = text.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ConfigurationError(
        f"invalid value {text!r} for ini cloud_stack_autouse: use true or false "
        "(unset: true when cloud_stack_env is set)"
    )


_Choice = TypeVar("_Choice", bound=enum.Enum)


def parse_choice(kind: type[_Choice], text: str, key: str) -> _Choice:
    """One value of an enumerated ini setting, or an error that names the key and the values."""
    try:
        return kind(text.strip().lower())
    except ValueError:
        valid = ", ".join(str(member.value) for member in kind)
        raise ConfigurationError(
            f"invalid value {text!r} for ini {key}: use one of {valid}"
        ) from None


def parse_warm_start(env: Mapping[str, str], ini: str | None) -> bool:
    """``CLOUD_STACK_WARM_START`` (0/1), then ini ``auto``/``true``/``false``; auto: not in CI.
    The ini value is checked even where the environment decides."""
    value = (ini or "auto").strip().lower()
    if value not in ("auto", "true", "false"):
        raise ConfigurationError(
            f"invalid value {ini!r} for ini cloud_stack_local_warm_start: use auto, true or false"
        )
    switch = env.get("CLOUD_STACK_WARM_START", "").strip().lower()
    if switch:
        return switch not in ("0", "false", "no", "off")
    return value == "true" or (value == "auto" and not env.get("CI"))


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


# Names the process (or its subprocesses, or boto3) reads: exporting the stack name under one
# breaks the session (PATH, HOME), sends boto3 elsewhere (AWS_ENDPOINT_URL), or changes pytest.
_NEEDED_ENV = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "TERM", "TZ", "LANG", "LANGUAGE"),
        *("TMPDIR", "TEMP", "TMP", "VIRTUAL_ENV", "CI", "SYSTEMROOT", "COMSPEC", "USERPROFILE"),
        *("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
        *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"),
        *("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"),
        *("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"),
        *("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE", "AWS_ROLE_ARN"),
        *("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_MAX_ATTEMPTS"),
        *("AWS_RETRY_MODE", "AWS_EC2_METADATA_DISABLED", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"),
        *("AWS_STS_REGIONAL_ENDPOINTS", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"),
        *("AWS_SDK_UA_APP_ID", "AWS_DEFAULTS_MODE"),
    }
)
_NEEDED_ENV_PREFIXES = (
    *("AWS_ENDPOINT_URL", "AWS_CONTAINER_", "AWS_LAMBDA_", "PYTHON", "PYTEST_", "CLOUD_STACK_"),
    *("LD_", "DYLD_", "LC_", "XDG_", "PIP_", "UV_", "CONDA_"),
)


def parse_env_names(names: Sequence[str]) -> tuple[str, ...]:
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise ConfigurationError(
                f"invalid environment variable name {name!r} for --cloud-stack-env / ini "
                "cloud_stack_env: use letters, digits and underscores, e.g. AWS_SAM_STACK_NAME"
            )
        upper = name.upper()
        if upper in _NEEDED_ENV or upper.startswith(_NEEDED_ENV_PREFIXES):
            raise ConfigurationError(
                f"--cloud-stack-env / ini cloud_stack_env {name}: the session itself needs that "
                "variable (the shell, Python, pytest, boto3 or the plugin reads it), and the "
                "stack name would replace its value. Choose a name of your own, e.g. "
                "AWS_SAM_STACK_NAME or STACK_NAME"
            )
    return tuple(dict.fromkeys(names))


_STACK_KEY = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,31}")


def parse_stacks(lines: Sequence[str], base: Path) -> tuple[tuple[str, Path], ...]:
    """``KEY = PATH`` lines (paths relative to the ini file) -> (key, absolute path), in order."""
    stacks: dict[str, Path] = {}
    for line in lines:
        key, sep, path = (part.strip() for part in line.partition("="))
        if not sep or not path or not _STACK_KEY.fullmatch(key):
            raise ConfigurationError(
                f"invalid line {line!r} in ini cloud_stack_stacks: expected KEY = PATH, KEY made "
                "of letters, digits and '-' (starting with a letter, at most 32), e.g. "
                "app = template.yaml"
            )
        resolved = (base / path).resolve()
        found = _assembly_stacks(key, path, resolved) if resolved.is_dir() else [(key, resolved)]
        for name, template in found:
            if name.lower() in (known.lower() for known in stacks):
                raise ConfigurationError(f"ini cloud_stack_stacks names the stack {name!r} twice")
            stacks[name] = template
    return tuple(stacks.items())


def _assembly_stacks(key: str, path: str, folder: Path) -> list[tuple[str, Path]]:
    """A CDK ``cdk.out`` folder: all of its stacks, keyed by their CDK names, in dependency order."""
    if not (folder / "manifest.json").is_file():
        raise ConfigurationError(
            f"ini cloud_stack_stacks: {key} = {path} is a folder without manifest.json: name a "
            "template, or a CDK cloud assembly (cdk.out)"
        )
    from pytest_cloudstack.packaging.cdk import assembly_stacks
    from pytest_cloudstack.packaging.errors import PackagingError

    try:
        found = assembly_stacks(folder)
    except PackagingError as error:
        raise ConfigurationError(f"ini cloud_stack_stacks: {key} = {path}: {error}") from None
    for name, _ in found:
        if not _STACK_KEY.fullmatch(name):
            raise ConfigurationError(
                f"ini cloud_stack_stacks: {key} = {path}: the CDK stack {name!r} can't be a key "
                "(letters, digits and '-', starting with a letter, at most 32): list its "
                "template under a key of your own"
            )
    return found


def parse_env_keys(lines: Sequence[str], keys: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``cloud_stack_env`` lines ``ENV = KEY``: export stack KEY's name as ENV."""
    pairs: list[tuple[str, str]] = []
    for line in lines:
        env, _, key = (part.strip() for part in line.partition("="))
        parse_env_names([env])
        if key not in keys:
            known = ", ".join(keys) if keys else "none: ini cloud_stack_stacks is not set"
            raise ConfigurationError(
                f"ini cloud_stack_env line {line!r} names the stack {key!r}, which is not in "
                f"cloud_stack_stacks (its keys: {known})"
            )
        pairs.append((env, key))
    return tuple(pairs)


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


def _ini_base(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath else config.rootpath


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


def _ini_bool(config: pytest.Config, name: str) -> bool:
    try:
        return bool(config.getini(name))
    except (ValueError, pytest.UsageError) as error:  # "invalid truth value 'maybe'": no key
        raise ConfigurationError(
            f"ini {name}: {error}; use true or false (also yes/no, on/off, 1/0)"
        ) from None


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

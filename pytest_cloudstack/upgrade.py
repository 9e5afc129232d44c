"""The upgrade-path check: would deploying this branch over REF's stack destroy data?

Tests pass on a fresh stack, and then the production deploy replaces the orders table: a change
to a property CloudFormation can only apply by replacing the resource (a key schema, a bucket or
queue name) destroys what the old resource held. ``--cloud-stack-upgrade-from=REF`` deploys the
project as it is at git ``REF``, then updates the stack to the working tree, and refuses the
update when it would replace or delete a stateful resource.

Which properties force a replacement comes from CloudFormation's resource schemas
(``createOnlyProperties`` and ``conditionalCreateOnlyProperties``), as cfn-lint ships them.
The comparison is local and structural: a property whose value is written differently (another
literal, another ``Ref``) counts as changed, which errs on the side of stopping.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_cloudstack.errors import CloudStackError, ConfigurationError

#: resource types whose replacement or deletion loses data (ini cloud_stack_stateful_types adds)
STATEFUL_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable",
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::Kinesis::Stream",
        "AWS::KinesisFirehose::DeliveryStream",
        "AWS::Logs::LogGroup",
        "AWS::RDS::DBInstance",
        "AWS::RDS::DBCluster",
        "AWS::DocDB::DBCluster",
        "AWS::Neptune::DBCluster",
        "AWS::Cognito::UserPool",
        "AWS::EFS::FileSystem",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::ElastiCache::CacheCluster",
        "AWS::OpenSearchService::Domain",
        "AWS::Elasticsearch::Domain",
        "AWS::Timestream::Table",
        "AWS::SecretsManager::Secret",
        "AWS::KMS::Key",
        "AWS::Backup::BackupVault",
        "AWS::EC2::Volume",
    }
)
# Policies under which the old resource outlives its replacement or deletion: no data is lost.
_KEEPING_POLICIES = frozenset({"Retain", "RetainExceptOnCreate", "Snapshot"})


class UpgradeError(CloudStackError):
    """The update from REF would replace or delete stateful resources; nothing was updated."""


@dataclass(frozen=True)
class Change:
    """A resource that the update would replace or delete, and why."""

    logical_id: str
    resource_type: str
    action: str  # "replace" or "delete"
    property: str | None = None
    old: Any = None
    new: Any = None

    def describe(self) -> str:
        if self.action == "delete":
            return f"{self.logical_id} ({self.resource_type}) would be deleted"
        if self.old is None and self.new is None:
            return f"{self.logical_id} ({self.resource_type}) would be replaced: {self.property}"
        return (
            f"{self.logical_id} ({self.resource_type}) would be replaced: {self.property} "
            f"changes from {_short(self.old)} to {_short(self.new)}"
        )


@dataclass(frozen=True)
class UpgradeCheck:
    """Every replacement and deletion, and those of them that the settings do not allow."""

    changes: tuple[Change, ...]
    blocked: tuple[Change, ...]

    def lines(self, ref: str) -> list[str]:
        if not self.changes:
            return [f"upgrade from {ref}: no resource is replaced or deleted"]
        lines = [f"upgrade from {ref}: {len(self.changes)} resource(s) replaced or deleted:"]
        for change in self.changes:
            verdict = "BLOCKED, stateful" if change in self.blocked else "allowed"
            lines.append(f"  {change.describe()} [{verdict}]")
        return lines

    def raise_if_blocked(self, ref: str) -> None:
        if not self.blocked:
            return
        lines = [
            f"the upgrade from {ref} would destroy data: {len(self.blocked)} stateful "
            "resource(s) replaced or deleted; the stack was not updated:"
        ]
        lines += [f"  - {change.describe()}" for change in self.blocked]
        lines.append(
            "If that is intended, list the logical IDs (or types) in ini "
            "cloud_stack_allow_destroy, or set UpdateReplacePolicy/DeletionPolicy: Retain"
        )
        raise UpgradeError("\n".join(lines))


def check_upgrade(
    old_body: Mapping[str, Any],
    new_body: Mapping[str, Any],
    region: str,
    stateful_types: Iterable[str] = (),
    allowed: Iterable[str] = (),
) -> UpgradeCheck:
    """Compare two deployable (packaged, transformed) bodies; see the module docstring."""
    changes = tuple(_changes(old_body, new_body, region))
    return UpgradeCheck(changes, _blocked(changes, old_body, stateful_types, allowed))


def cross_check(
    planned: Iterable[tuple[str, str, str, str]],
    old_body: Mapping[str, Any],
    stateful_types: Iterable[str] = (),
    allowed: Iterable[str] = (),
) -> UpgradeCheck:
    """The same verdict from CloudFormation's change set on AWS: (logical ID, type, action,
    replacement) of each change, as the service computed them for the real stack."""
    changes = []
    for logical_id, resource_type, action, replacement in planned:
        if action == "Remove":
            changes.append(Change(logical_id, resource_type, "delete"))
        elif action == "Modify" and replacement == "True":
            changes.append(
                Change(logical_id, resource_type, "replace", "(CloudFormation's change set)")
            )
    found = tuple(changes)
    return UpgradeCheck(found, _blocked(found, old_body, stateful_types, allowed))


def _blocked(
    changes: tuple[Change, ...],
    old_body: Mapping[str, Any],
    stateful_types: Iterable[str],
    allowed: Iterable[str],
) -> tuple[Change, ...]:
    stateful = STATEFUL_TYPES | set(stateful_types)
    allow = set(allowed)
    return tuple(
        change
        for change in changes
        if change.resource_type in stateful
        and change.logical_id not in allow
        and change.resource_type not in allow
        and not _kept(old_body, change)
    )


def _changes(
    old_body: Mapping[str, Any], new_body: Mapping[str, Any], region: str
) -> Iterator[Change]:
    old_resources = _resources(old_body)
    new_resources = _resources(new_body)
    for logical_id, old in old_resources.items():
        kind = str(old.get("Type", ""))
        new = new_resources.get(logical_id)
        if new is None:
            yield Change(logical_id, kind, "delete")
            continue
        if new.get("Type") != kind:
            yield Change(logical_id, kind, "replace", "Type", kind, new.get("Type"))
            continue
        old_properties = old.get("Properties") or {}
        new_properties = new.get("Properties") or {}
        for pointer in create_only_properties(region, kind):
            before, after = _at(old_properties, pointer), _at(new_properties, pointer)
            if before != after:
                name = pointer.removeprefix("/properties/").replace("/", ".")
                yield Change(logical_id, kind, "replace", name, before, after)
                break


def create_only_properties(region: str, resource_type: str) -> tuple[str, ...]:
    """JSON pointers of the properties whose change replaces the resource (from its schema)."""
    try:
        from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER
    except ImportError:
        raise ConfigurationError(
            "--cloud-stack-upgrade-from reads CloudFormation's resource schemas from cfn-lint, "
            "which is not installed: pip install 'pytest-cloudstack[lint]'"
        ) from None
    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    except Exception:  # an unknown or custom type: no schema, nothing known to replace it
        return ()
    pointers = [
        *schema.get("createOnlyProperties", ()),
        *schema.get("conditionalCreateOnlyProperties", ()),
    ]
    return tuple(dict.fromkeys(p for p in pointers if p.startswith("/properties/")))


def _kept(body: Mapping[str, Any], change: Change) -> bool:
    resource = _resources(body).get(change.logical_id, {})
    policy = "DeletionPolicy" if change.action == "delete" else "UpdateReplacePolicy"
    return resource.get(policy) in _KEEPING_POLICIES


def _resources(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    resources = body.get("Resources")
    if not isinstance(resources, dict):
        return {}
    return {key: value for key, value in resources.items() if isinstance(value, dict)}


def _at(properties: Mapping[str, Any], pointer: str) -> Any:
    value: Any = properties
    for part in pointer.removeprefix("/properties/").split("/"):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _short(value: Any) -> str:
    import json

    text = "(none)" if value is None else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class Checkout:
    """The project as it is at ``ref``: the template's and the rootdir's place in a copy."""

    ref: str
    commit: str
    rootdir: Path
    template: Path | None  # None: the template does not exist at ref


def resolve_ref(rootdir: Path, ref: str) -> str:
    """The commit ``ref`` names, or a ConfigurationError that says what git said."""
    found = _git(rootdir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0 or not found.stdout.strip():
        raise ConfigurationError(
            f"--cloud-stack-upgrade-from {ref!r}: git does not know this revision in "
            f"{rootdir} (fetch it first, e.g. git fetch origin main)"
        )
    return found.stdout.decode().strip()


@contextlib.contextmanager
def checkout(rootdir: Path, template: Path, ref: str) -> Iterator[Checkout]:
    """Extract the rootdir (and the template's folder) as they are at ``ref``; removed after."""
    commit = resolve_ref(rootdir, ref)
    top = Path(_git(rootdir, "rev-parse", "--show-toplevel").stdout.decode().strip()).resolve()
    try:
        root_part = rootdir.resolve().relative_to(top)
        template_part = template.resolve().relative_to(top)
    except ValueError:
        raise ConfigurationError(
            f"--cloud-stack-upgrade-from: {template} is not inside the git repository {top}"
        ) from None
    parts = sorted({str(root_part), str(template_part.parent)})
    archive = _git(top, "archive", "--format=tar", commit, "--", *parts)
    with tempfile.TemporaryDirectory(prefix="cloudstack-upgrade-") as folder:
        where = Path(folder)
        if archive.returncode == 0:
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                    tar.extractall(where, filter="data")
                else:  # the project's own repository: trusted, but older Pythons lack filters
                    tar.extractall(where)
        # `git archive` fails for paths that did not exist at ref: nothing to upgrade from.
        old_template = where / template_part
        yield Checkout(
            ref=ref,
            commit=commit,
            rootdir=where / root_part,
            template=old_template if old_template.is_file() else None,
        )


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigurationError(f"--cloud-stack-upgrade-from needs git: {error}") from None

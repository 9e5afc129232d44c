"""CDK cloud assemblies: a synthesized ``cdk.out/<Stack>.template.json`` and its file assets.

``cdk synth`` writes the stack's template beside ``manifest.json`` (the assembly's artifacts)
and ``<Stack>.assets.json`` (the asset manifest: for each asset, its source in ``cdk.out`` and
the bucket and key the template expects it at, with ``${AWS::AccountId}``-style placeholders).
The template already points at those keys, so publishing an asset is: build it (zip a folder,
or take a file as it is) and put it at each destination.

Container image assets (``dockerImages``) and assets built by a command (``executable``) are
not supported: the template is refused before the stack is touched, with that said.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_cloudstack.packaging.errors import PackagingError

STACK_TYPE = "aws:cloudformation:stack"
ASSET_MANIFEST_TYPE = "cdk:asset-manifest"
DEFAULT_BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
#: the version ``cdk bootstrap`` would publish; templates check it is at least what they need
EMULATED_BOOTSTRAP_VERSION = "30"


@dataclass(frozen=True)
class Destination:
    """Where an asset goes: bucket and key, placeholders still in them."""

    bucket: str
    key: str


@dataclass(frozen=True)
class FileAsset:
    """One file asset: its source (a folder to zip or a file) and its destinations."""

    asset_id: str
    source: Path
    zip: bool
    destinations: tuple[Destination, ...]


@dataclass(frozen=True)
class Assembly:
    """The part of a cloud assembly that one stack template needs."""

    folder: Path
    stack: str
    asset_manifests: tuple[Path, ...]
    bootstrap_parameter: str | None


def find_assembly(template: Path | None) -> Assembly | None:
    """The cloud assembly ``template`` belongs to, or None when it is no CDK output."""
    if template is None:
        return None
    folder = template.parent
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = _read_json(manifest_path)
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, dict):
        return None
    for name, artifact in artifacts.items():
        if not isinstance(artifact, dict) or artifact.get("type") != STACK_TYPE:
            continue
        properties = artifact.get("properties") or {}
        if properties.get("templateFile") != template.name:
            continue
        manifests = []
        for dependency in artifact.get("dependencies") or []:
            other = artifacts.get(dependency)
            if isinstance(other, dict) and other.get("type") == ASSET_MANIFEST_TYPE:
                file_name = (other.get("properties") or {}).get("file")
                if isinstance(file_name, str):
                    manifests.append(folder / file_name)
        parameter = properties.get("bootstrapStackVersionSsmParameter")
        return Assembly(
            folder,
            str(properties.get("stackName") or artifact.get("displayName") or name),
            tuple(manifests),
            parameter if isinstance(parameter, str) else None,
        )
    return None


def file_assets(assembly: Assembly) -> list[FileAsset]:
    """Every file asset of the stack; raises :class:`PackagingError` for what cannot be published."""
    assets: list[FileAsset] = []
    for manifest_path in assembly.asset_manifests:
        if not manifest_path.is_file():
            raise PackagingError(
                f"the asset manifest {manifest_path.name} named in manifest.json does not exist",
                path=assembly.folder / "manifest.json",
            )
        manifest = _read_json(manifest_path)
        images = manifest.get("dockerImages") or {}
        if images:
            raise PackagingError(
                f"container image assets ({', '.join(sorted(images))}) are not supported: "
                "pytest-cloudstack publishes file assets only. Publish images with "
                "`cdk deploy` / cdk-assets, or deploy this stack without image assets",
                path=manifest_path,
            )
        for asset_id, asset in sorted((manifest.get("files") or {}).items()):
            assets.append(_file_asset(assembly.folder, manifest_path, asset_id, asset))
    return assets


def _file_asset(folder: Path, manifest_path: Path, asset_id: str, asset: Any) -> FileAsset:
    where = f"file asset {asset_id}"
    source = asset.get("source") if isinstance(asset, dict) else None
    if not isinstance(source, dict):
        raise PackagingError("has no source", where, manifest_path)
    if "executable" in source:
        raise PackagingError(
            "is built by a command (source.executable), which is not supported: only assets "
            "that cdk synth already wrote into the assembly are published",
            where,
            manifest_path,
        )
    relative = source.get("path")
    if not isinstance(relative, str):
        raise PackagingError("has no source.path", where, manifest_path)
    path = folder / relative
    if not path.exists():
        raise PackagingError(
            f"names {relative!r}, which is not in {folder}: run `cdk synth` again "
            "(the assembly is incomplete)",
            where,
            manifest_path,
        )
    packaging = source.get("packaging", "file")
    if packaging not in ("zip", "file"):
        raise PackagingError(f"has unknown packaging {packaging!r}", where, manifest_path)
    if packaging == "file" and path.is_dir():
        raise PackagingError(
            f"is packaged as a file but {relative!r} is a folder", where, manifest_path
        )
    destinations = []
    for destination in (asset.get("destinations") or {}).values():
        bucket, key = destination.get("bucketName"), destination.get("objectKey")
        if isinstance(bucket, str) and isinstance(key, str):
            destinations.append(Destination(bucket, key))
    if not destinations:
        raise PackagingError("has no destination (bucketName/objectKey)", where, manifest_path)
    return FileAsset(asset_id, path, packaging == "zip", tuple(destinations))


def substitute(text: str, account: str, region: str, partition: str) -> str:
    """Fill in the ``${AWS::...}`` placeholders of an asset destination."""
    return (
        text.replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
        .replace("${AWS::Partition}", partition)
    )


def bootstrap_parameters(assembly: Assembly, body: dict[str, Any]) -> list[str]:
    """The SSM parameters the template reads the bootstrap version from."""
    names = {assembly.bootstrap_parameter} if assembly.bootstrap_parameter else set()
    for declaration in (body.get("Parameters") or {}).values():
        if not isinstance(declaration, dict):
            continue
        kind, default = str(declaration.get("Type", "")), declaration.get("Default")
        if kind.startswith("AWS::SSM::Parameter::Value") and isinstance(default, str):
            if default.startswith("/cdk-bootstrap/"):
                names.add(default)
    return sorted(names)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PackagingError(f"cannot read the cloud assembly file: {error}", path=path) from None
    if not isinstance(data, dict):
        raise PackagingError("is not a JSON object", path=path)
    return data


def assembly_stacks(folder: Path) -> list[tuple[str, Path]]:
    """Every stack of the cloud assembly in ``folder``: (CDK stack name, template), ordered so
    that a stack comes after the stacks it depends on (manifest order otherwise)."""
    manifest_path = folder / "manifest.json"
    artifacts = _read_json(manifest_path).get("artifacts")
    if not isinstance(artifacts, dict):
        raise PackagingError("has no artifacts", path=manifest_path)
    stacks: dict[str, tuple[Path, list[str]]] = {}
    for name, artifact in artifacts.items():
        if not isinstance(artifact, dict):
            continue
        if artifact.get("type") == "cdk:cloud-assembly":
            raise PackagingError(
                f"holds the nested assembly {name!r} (a CDK Stage), which is not supported: "
                "list its stacks' templates in cloud_stack_stacks instead",
                path=manifest_path,
            )
        if artifact.get("type") != STACK_TYPE:
            continue
        template = (artifact.get("properties") or {}).get("templateFile")
        if not isinstance(template, str):
            raise PackagingError(f"stack {name!r} has no templateFile", path=manifest_path)
        dependencies = [str(d) for d in artifact.get("dependencies") or []]
        stacks[name] = (folder / template, dependencies)
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise PackagingError(f"stack {name!r} depends on itself", path=manifest_path)
        visiting.add(name)
        for dependency in stacks[name][1]:
            if dependency in stacks:
                visit(dependency)
        visiting.discard(name)
        ordered.append(name)

    for name in stacks:
        visit(name)
    if not ordered:
        raise PackagingError("holds no stack", path=manifest_path)
    return [(name, stacks[name][0]) for name in ordered]

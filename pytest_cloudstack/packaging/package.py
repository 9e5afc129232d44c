"""Package a template for deployment: local paths -> uploaded artifacts, SAM -> CloudFormation.

Two phases, so that bad input fails before anything is created anywhere:

1. Local. Every packageable property (see ``resources.py``) of the template, and of its nested
   templates, recursively, is resolved against the template's folder and checked (exists, stays
   inside the project, not empty); folders are zipped deterministically, concurrently, with
   ``requirements.txt`` installed for the function's runtime; properties are rewritten to the
   content-hash keys; SAM is transformed client-side where the target needs it; a CDK
   assembly's file assets are built. Nothing but ``sts:GetCallerIdentity`` (for the bucket's
   name) is sent anywhere.
2. Remote. The artifact bucket is checked or created, and every object is uploaded unless it
   is there already (same key, same content), concurrently.

A template that needs none of this costs nothing: no call, no thread.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cloudstack.errors import CloudStackError
from pytest_cloudstack.packaging import cdk, emulators, sam, zips
from pytest_cloudstack.packaging.artifacts import (
    KEY_PREFIX,
    ArtifactBucket,
    Upload,
    default_bucket_name,
    object_url,
)
from pytest_cloudstack.packaging.dependencies import install, python_version
from pytest_cloudstack.packaging.errors import PackagingError
from pytest_cloudstack.packaging.resources import (
    BY_TYPE,
    Kind,
    Packageable,
    is_local_path,
    reference,
)
from pytest_cloudstack.paths import cache_home
from pytest_cloudstack.responses import error_code
from pytest_cloudstack.settings import SamTransform, TargetKind
from pytest_cloudstack.template import Template, load_template

if TYPE_CHECKING:
    from pytest_cloudstack.connection import Connection
    from pytest_cloudstack.settings import Settings

#: CloudFormation's limit for an inline ``TemplateBody``; larger templates go by ``TemplateURL``
MAX_TEMPLATE_BODY = 51_200
_ARCHIVES = (".zip", ".jar")
_WORKERS = 4

ClientFactory = Callable[[str], Any]
Writer = Callable[[str], None]


@dataclass(frozen=True)
class PackagingOptions:
    """What packaging needs to know about the run."""

    region: str
    on_aws: bool
    project_root: Path
    parameters: Mapping[str, str]
    sam_transform: SamTransform = SamTransform.AUTO
    artifact_bucket: str | None = None
    cache: Path | None = None
    #: the ``local`` target: handlers run on this machine (their own Python when it is installed,
    #: else the host's), so dependencies are built for that
    dependencies_for_host: bool = False
    local_packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackagedTemplate:
    """The template to deploy: its final JSON body, and the URL to send instead when it is large."""

    body: dict[str, Any]
    template_body: str
    template_url: str | None
    capabilities: tuple[str, ...]
    artifacts: int = 0
    uploaded: int = 0
    seconds: float = 0.0
    #: the code archives made or found, with the property each is for (limits.py checks them)
    archives: tuple[tuple[str, Path], ...] = ()


def cache_dir() -> Path:
    """Where zips and dependency builds are cached (``$XDG_CACHE_HOME/pytest-cloudstack``)."""
    return cache_home()


def package_template(
    template: Template,
    options: PackagingOptions,
    client: ClientFactory,
    write: Writer | None = None,
) -> PackagedTemplate:
    """Package ``template`` for the target; see the module's docstring for what that means.

    ``client(service)`` makes a boto3 client for the target. Raises :class:`PackagingError`
    (or the ``TemplateError`` of a nested template) before the stack is touched.
    """
    started = time.monotonic()
    packager = _Packager(options, client)
    try:
        chain = (template.path.resolve(),) if template.path is not None else ()
        body, capabilities = packager.package_body(template.body, template.path, chain)
        assembly = cdk.find_assembly(template.path)
        if assembly is not None:
            packager.add_cdk_assets(assembly, body)
        final = Template(template.path, body)
        text = final.to_json()
        url = None
        if len(text.encode("utf-8")) > MAX_TEMPLATE_BODY:
            url = packager.add_template(text.encode("utf-8"))
        uploaded = packager.publish()
    finally:
        packager.close()
    artifacts = len(packager.uploads)
    seconds = time.monotonic() - started
    if write is not None and artifacts:
        buckets = ", ".join(sorted({upload.bucket for upload in packager.uploads.values()}))
        write(
            f"packaged {artifacts} artifact{'s' if artifacts != 1 else ''} in {seconds:.1f}s: "
            f"{uploaded} uploaded, {artifacts - uploaded} already in s3://{buckets}"
        )
    archives = tuple(
        (upload.label, upload.source)
        for upload in packager.uploads.values()
        if isinstance(upload.source, Path) and upload.source.suffix.lower() in _ARCHIVES
    )
    return PackagedTemplate(
        body, text, url, capabilities, artifacts, uploaded, seconds, archives=archives
    )


class _Packager:
    def __init__(self, options: PackagingOptions, client: ClientFactory) -> None:
        self.options = options
        self.client = client
        self.root = options.project_root.resolve()
        self.root_lexical = Path(os.path.normpath(os.path.abspath(options.project_root)))
        self.cache = options.cache or cache_dir()
        self.uploads: dict[tuple[str, str], Upload] = {}
        self.buckets: dict[str, ArtifactBucket] = {}
        self.parameters_to_seed: list[str] = []
        self._account: str | None = None
        self._s3: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # -- shared state -----------------------------------------------------------------------

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="cloudstack-package")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self.client("s3")
        return self._s3

    @property
    def account(self) -> str:
        if self._account is None:
            try:
                self._account = str(self.client("sts").get_caller_identity()["Account"])
            except Exception as error:
                raise PackagingError(
                    f"cannot tell the account for the artifact bucket's name: {error}. Set ini "
                    "cloud_stack_artifact_bucket to name a bucket"
                ) from None
        return self._account

    def artifact_bucket(self) -> ArtifactBucket:
        options = self.options
        name = options.artifact_bucket or default_bucket_name(self.account, options.region)
        if name not in self.buckets:
            owned = options.artifact_bucket is None
            self.buckets[name] = ArtifactBucket(
                self.s3,
                name,
                options.region,
                owned=owned,
                create_missing=owned or not options.on_aws,
                expected_owner=self.account if options.on_aws else None,
                what="artifact bucket"
                if owned
                else "artifact bucket (ini cloud_stack_artifact_bucket)",
            )
        return self.buckets[name]

    # -- phase 1: local -----------------------------------------------------------------------

    def package_body(
        self, source: Mapping[str, Any], path: Path | None, chain: tuple[Path, ...]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The packaged copy of a template body, and the capabilities it needs (nested ones too)."""
        body = copy.deepcopy(dict(source))
        folder = path.parent if path is not None else self.root
        is_sam = sam.is_sam(body)
        if is_sam:
            _apply_global_code_uri(body)
        pending: list[tuple[dict[str, Any], Packageable, str, Future[tuple[Path, str]]]] = []
        capabilities: set[str] = set()
        try:
            for logical_id, resource in _resources(body):
                resource_type = resource.get("Type")
                for spec in (
                    BY_TYPE.get(resource_type, ()) if isinstance(resource_type, str) else ()
                ):
                    where = f"resource {logical_id} ({resource_type}), property {spec.property}"
                    properties = resource.get("Properties")
                    value = properties.get(spec.property) if isinstance(properties, dict) else None
                    if value is None and spec.missing_means_template_folder:
                        if _names_other_code(resource, body):
                            continue
                        value = "."  # what `sam package` does: the template's own folder
                    if not is_local_path(value):
                        continue
                    properties = resource.setdefault("Properties", {})
                    local = self.resolve(str(value), folder, where, path)
                    if spec.kind is Kind.TEMPLATE:
                        url, nested = self.package_nested(local, where, path, chain)
                        properties[spec.property] = url
                        capabilities.update(nested)
                        continue
                    runtime, architecture = _runtime(resource, body, self.options.parameters)
                    future = self.pool.submit(
                        self.prepare, spec, local, runtime, architecture, where, path
                    )
                    pending.append((properties, spec, where, future))
            for properties, spec, where, future in pending:
                file, key = future.result()
                bucket = self.artifact_bucket().name
                self.uploads[(bucket, key)] = Upload(bucket, key, file, where)
                url = object_url(bucket, key, self.options.region)
                properties[spec.property] = reference(spec.form, bucket, key, url)
        finally:
            for _, _, _, future in pending:
                future.cancel()
        if is_sam and sam.transform_here(self.options.sam_transform, self.options.on_aws):
            # The stack's parameters are the root template's; a nested one gets its own defaults.
            parameters = self.options.parameters if len(chain) <= 1 else {}
            body = sam.transform(body, parameters, self.options.region, path)
        if not self.options.on_aws:
            # Also for plain templates: a RestApi defined by its OpenAPI Body needs it as much.
            emulators.adapt(body)
        capabilities.update(Template(path, body).capabilities())
        return body, tuple(sorted(capabilities))

    def resolve(self, value: str, folder: Path, where: str, template: Path | None) -> Path:
        """The local path a property names, checked: it exists and stays inside the project."""
        candidate = folder / value
        lexical = Path(os.path.normpath(os.path.abspath(candidate)))
        if not self.inside(lexical):
            raise PackagingError(
                f"{value!r} is {lexical}, outside the project folder {self.root}: only paths "
                "inside the project are packaged",
                where,
                template,
            )
        if not candidate.exists():
            if candidate.is_symlink():
                raise PackagingError(
                    f"{value!r} is a broken symlink or a symlink loop ({lexical})", where, template
                )
            raise PackagingError(
                f"{value!r} does not exist (looked for {lexical}; paths are relative to the "
                "template's folder)",
                where,
                template,
            )
        resolved = candidate.resolve()
        if not self.inside(resolved):
            raise PackagingError(
                f"{value!r} leads to {resolved} through a symlink, outside the project folder "
                f"{self.root}: only paths inside the project are packaged",
                where,
                template,
            )
        return resolved

    def inside(self, path: Path) -> bool:
        # The project folder itself may be reached through a symlink: accept either spelling.
        return zips.is_inside(path, self.root) or zips.is_inside(path, self.root_lexical)

    def package_nested(
        self, local: Path, where: str, parent: Path | None, chain: tuple[Path, ...]
    ) -> tuple[str, tuple[str, ...]]:
        """Package a nested template recursively, queue it, and return its URL."""
        if local.is_dir():
            raise PackagingError(f"{local} is a folder, not a template file", where, parent)
        if local in chain:
            raise PackagingError(
                f"{local} includes itself: nested templates form a cycle", where, parent
            )
        child = load_template(local)
        body, capabilities = self.package_body(child.body, local, (*chain, local))
        text = Template(local, body).to_json().encode("utf-8")
        return self.add_template(text), capabilities

    def add_template(self, data: bytes) -> str:
        """Queue a template's JSON for upload; its URL."""
        bucket = self.artifact_bucket().name
        key = f"{KEY_PREFIX}{hashlib.sha256(data).hexdigest()}.json"
        self.uploads[(bucket, key)] = Upload(bucket, key, data, "template")
        return object_url(bucket, key, self.options.region)

    def prepare(
        self,
        spec: Packageable,
        local: Path,
        runtime: str | None,
        architecture: str,
        where: str,
        template: Path | None,
    ) -> tuple[Path, str]:
        """Build the file to upload for one property (in a worker thread); (file, key)."""
        try:
            if spec.kind is Kind.FILE:
                if local.is_dir():
                    raise PackagingError(f"{local} is a folder; this property takes a file")
                return local, _key(zips.file_sha256(local), local.suffix.lower())
            if local.is_file():
                if local.suffix.lower() in _ARCHIVES:
                    return local, _key(zips.file_sha256(local), local.suffix.lower())
                entries = [zips.Entry(local.name, local, os.access(local, os.X_OK))]
                archive = zips.cached_zip(entries, self.cache)
                return archive, _key(zips.file_sha256(archive), ".zip")
            archive = self.zip_folder(spec, local, runtime, architecture, where)
            return archive, _key(zips.file_sha256(archive), ".zip")
        except PackagingError as error:
            if error.where is None:
                raise PackagingError(error.message, where, template) from None
            raise
        except OSError as error:
            raise PackagingError(f"cannot read {local}: {error}", where, template) from None

    def zip_folder(
        self, spec: Packageable, folder: Path, runtime: str | None, architecture: str, where: str
    ) -> Path:
        entries = zips.collect(folder, self.root)
        requirements = folder / "requirements.txt"
        if spec.function and requirements.is_file() and runtime and python_version(runtime):
            for_python = None
            if self.options.dependencies_for_host:
                from pytest_cloudstack.local.interpreter import runs_on

                declared = python_version(runtime)
                assert declared is not None
                for_python = runs_on(declared, self.options.local_packages)
            site = install(
                requirements, runtime, architecture, self.cache, where, for_python=for_python
            )
            # The build folder never changes once written (its name is its inputs' hash), so
            # its name stands for its content in the zip's cache key.
            sources = {entry.name for entry in entries}
            dependencies = [e for e in zips.collect(site, site.resolve()) if e.name not in sources]
            if not entries and not dependencies:
                raise PackagingError(f"{folder} is empty: nothing to package")
            combined = sorted([*entries, *dependencies], key=lambda entry: entry.name)
            return zips.cached_zip(combined, self.cache, site.name, key_entries=entries)
        if not entries:
            raise PackagingError(
                f"{folder} is empty: nothing to package (after leaving out "
                "__pycache__, *.pyc, .git and the like)"
            )
        return zips.cached_zip(entries, self.cache)

    def add_cdk_assets(self, assembly: cdk.Assembly, body: dict[str, Any]) -> None:
        """Build the assembly's file assets and queue them for their destinations."""
        assets = cdk.file_assets(assembly)
        boundary = assembly.folder.parent.resolve()
        futures = []
        for asset in assets:
            root = (
                boundary
                if zips.is_inside(asset.source.resolve(), boundary)
                else asset.source.resolve()
            )
            futures.append((asset, self.pool.submit(self._cdk_source, asset, root)))
        region = self.options.region
        partition = sam.partition(region)
        for asset, future in futures:
            file = future.result()
            for destination in asset.destinations:
                bucket = cdk.substitute(destination.bucket, self.account, region, partition)
                key = cdk.substitute(destination.key, self.account, region, partition)
                self.uploads[(bucket, key)] = Upload(
                    bucket, key, file, f"CDK asset {asset.asset_id}"
                )
                if bucket not in self.buckets:
                    self.buckets[bucket] = ArtifactBucket(
                        self.s3,
                        bucket,
                        region,
                        owned=False,
                        create_missing=not self.options.on_aws,
                        expected_owner=self.account if self.options.on_aws else None,
                        what="CDK bootstrap bucket",
                        hint=f": run `cdk bootstrap aws://{self.account}/{region}` first",
                    )
        if not self.options.on_aws:
            self.parameters_to_seed = cdk.bootstrap_parameters(assembly, body)

    def _cdk_source(self, asset: cdk.FileAsset, root: Path) -> Path:
        where = f"CDK file asset {asset.asset_id}"
        try:
            source = asset.source
            if not asset.zip or (source.is_file() and source.suffix.lower() in _ARCHIVES):
                return source
            if source.is_file():
                return zips.cached_zip([zips.Entry(source.name, source, False)], self.cache)
            entries = zips.collect(source, root)
            if not entries:
                raise PackagingError(f"{source} is empty: nothing to package")
            return zips.cached_zip(entries, self.cache)
        except PackagingError as error:
            if error.where is None:
                raise PackagingError(error.message, where) from None
            raise

    # -- phase 2: remote ----------------------------------------------------------------------

    def publish(self) -> int:
        """Make sure the buckets exist, then upload what is missing; the number uploaded."""
        if not self.uploads and not self.parameters_to_seed:
            return 0
        from pytest_cloudstack.responses import service_message

        try:
            # Every bucket an upload names was registered when its key was chosen.
            for name in sorted({upload.bucket for upload in self.uploads.values()}):
                self.buckets[name].ensure()
            self._seed_bootstrap_parameters()
            futures = [
                self.pool.submit(self.buckets[upload.bucket].put, upload)
                for upload in self.uploads.values()
            ]
            return sum(bool(future.result()) for future in futures)
        except CloudStackError:
            raise
        except Exception as error:  # botocore's errors, the network's: said, not a traceback
            raise PackagingError(
                f"publishing the artifacts failed: {service_message(error)}"
            ) from None

    def _seed_bootstrap_parameters(self) -> None:
        # An emulator has no `cdk bootstrap`: give the template the version parameter it reads.
        if not self.parameters_to_seed:
            return
        from botocore.exceptions import ClientError

        ssm = self.client("ssm")
        for name in self.parameters_to_seed:
            try:
                ssm.put_parameter(Name=name, Value=cdk.EMULATED_BOOTSTRAP_VERSION, Type="String")
            except ClientError as error:
                if error_code(error) != "ParameterAlreadyExists":
                    raise


def _key(digest: str, suffix: str) -> str:
    return f"{KEY_PREFIX}{digest}{suffix}"


def _resources(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    resources = body.get("Resources")
    if not isinstance(resources, dict):
        return []
    return [(k, v) for k, v in resources.items() if isinstance(v, dict)]


def _function_globals(body: Mapping[str, Any]) -> dict[str, Any]:
    globals_ = body.get("Globals")
    function = globals_.get("Function") if isinstance(globals_, dict) else None
    return function if isinstance(function, dict) else {}


def _apply_global_code_uri(body: dict[str, Any]) -> None:
    """Give each function the global ``CodeUri`` it inherits, so that each is packaged.

    The translator would merge it later, but packaging runs first and must see the path. As
    ``sam package`` does, the global entry is then dropped: every function carries its own.
    """
    shared = _function_globals(body)
    code_uri = shared.get("CodeUri")
    if not is_local_path(code_uri):
        return
    for _, resource in _resources(body):
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.setdefault("Properties", {})
        if (
            isinstance(properties, dict)
            and not {"CodeUri", "InlineCode", "ImageUri"} & properties.keys()
        ):
            properties["CodeUri"] = code_uri
    del shared["CodeUri"]


def _names_other_code(resource: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    properties = resource.get("Properties")
    properties = properties if isinstance(properties, dict) else {}
    shared = _function_globals(body)
    if {"InlineCode", "ImageUri"} & (properties.keys() | shared.keys()):
        return True
    return (properties.get("PackageType") or shared.get("PackageType")) == "Image"


def _runtime(
    resource: Mapping[str, Any], body: Mapping[str, Any], parameters: Mapping[str, str]
) -> tuple[str | None, str]:
    """The function's runtime and architecture (SAM globals included; a ``Ref`` to a parameter resolved)."""
    properties = resource.get("Properties")
    properties = properties if isinstance(properties, dict) else {}
    shared = (
        _function_globals(body) if resource.get("Type", "").startswith("AWS::Serverless::") else {}
    )
    runtime = properties.get("Runtime", shared.get("Runtime"))
    if isinstance(runtime, dict) and isinstance(runtime.get("Ref"), str):
        runtime = parameters.get(runtime["Ref"])
    architectures = properties.get("Architectures", shared.get("Architectures"))
    architecture = "x86_64"
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        architecture = architectures[0]
    return (runtime if isinstance(runtime, str) else None), architecture


def package_for_run(
    template: Template,
    settings: Settings,
    connection: Connection,
    session: Any,
    parameters: Mapping[str, str],
    write: Writer | None = None,
) -> PackagedTemplate:
    """:func:`package_template` with the options of a pytest run (what ``run.py`` calls)."""
    root = settings.rootdir
    if template.path is not None and not zips.is_inside(
        template.path.resolve(), settings.rootdir.resolve()
    ):
        root = template.path.parent  # a template outside rootdir: its own folder is the project
    options = PackagingOptions(
        region=connection.region,
        on_aws=not connection.is_emulator,
        project_root=root,
        parameters=parameters,
        sam_transform=settings.sam_transform,
        artifact_bucket=settings.artifact_bucket,
        # On local, handlers run on this interpreter; an endpoint runs them in its own runtime
        # (LocalStack, moto with Docker: the declared one), as AWS does.
        dependencies_for_host=settings.target.kind is TargetKind.LOCAL,
        local_packages=settings.local_packages,
    )
    packaged = package_template(
        template, options, lambda service: connection.client(service, session), write
    )
    if options.dependencies_for_host and write is not None:
        from pytest_cloudstack.local.interpreter import declared_runtimes, runtime_notes

        runtimes = declared_runtimes(packaged.body, parameters)
        for note in runtime_notes(runtimes, settings.local_packages):
            write(note)
    return packaged

"""The artifact bucket: where packaged code and large or nested templates go, by content hash.

By default one bucket per account and region, ``cloudstack-artifacts-{account}-{region}``,
created on first use and owned by the plugin: tagged ``cloudstack:managed=true``, encrypted,
public access blocked, objects expiring after :data:`EXPIRY_DAYS`. It is never part of the
ephemeral stack: CloudFormation cannot delete a non-empty bucket, and the next run wants the
artifacts again. A bucket of that name without the tag is someone else's: refused.

With ini ``cloud_stack_artifact_bucket`` the user's bucket is used as it is (it must exist on
AWS; emulators start empty, so there it is created when missing).

Keys are ``cloudstack/{sha256}{suffix}``: an object that exists already holds those exact
bytes, so it is never uploaded again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_cloudstack.packaging.errors import PackagingError
from pytest_cloudstack.responses import error_code

OWNERSHIP_TAG = "cloudstack:managed"
PURPOSE_TAG = "cloudstack:purpose"
EXPIRY_DAYS = 30
KEY_PREFIX = "cloudstack/"
_MULTIPART_ABOVE = 64 * 1024 * 1024


def default_bucket_name(account: str, region: str) -> str:
    """The plugin's bucket for this account and region (at most 48 characters, always valid)."""
    return f"cloudstack-artifacts-{account}-{region}"


def object_url(bucket: str, key: str, region: str) -> str:
    """The HTTPS URL CloudFormation takes as ``TemplateURL``: path style, which emulators parse."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://s3.{region}.{suffix}/{bucket}/{key}"


@dataclass(frozen=True)
class Upload:
    """An object to put in a bucket: from a file, or from bytes built in memory."""

    bucket: str
    key: str
    source: Path | bytes
    label: str


class ArtifactBucket:
    """One bucket, checked (and created if it may be) once, then uploaded to by content hash.

    ``owned``: the plugin's own bucket (created, configured and tag-checked here); otherwise the
    user's (used as is). ``create_missing``: whether a missing bucket may be created at all.
    ``expected_owner``: the account ID sent as ``ExpectedBucketOwner`` on AWS, so that a bucket
    of the same name in another account is never written to.
    """

    def __init__(
        self,
        s3: Any,
        name: str,
        region: str,
        *,
        owned: bool,
        create_missing: bool,
        expected_owner: str | None = None,
        what: str = "artifact bucket",
        hint: str = "",
    ) -> None:
        self.s3 = s3
        self.name = name
        self.region = region
        self.owned = owned
        self.create_missing = create_missing
        self.expected_owner = expected_owner
        self.what = what
        self.hint = hint
        self._ready = False

    def _owner(self) -> dict[str, str]:
        return {"ExpectedBucketOwner": self.expected_owner} if self.expected_owner else {}

    def ensure(self) -> None:
        """Make sure the bucket exists and may be used; create and configure it if it may be."""
        if self._ready:
            return
        from botocore.exceptions import ClientError

        try:
            self.s3.head_bucket(Bucket=self.name, **self._owner())
        except ClientError as error:
            status = _status(error)
            if status == 404 or error_code(error) in ("404", "NoSuchBucket"):
                if not self.create_missing:
                    raise PackagingError(
                        f"{self.what} {self.name!r} does not exist in region {self.region}"
                        f"{self.hint}"
                    ) from None
                self._create()
                self._ready = True
                return
            if status == 403:
                raise PackagingError(
                    f"{self.what} {self.name!r} exists but this account cannot use it (403: it "
                    "belongs to another account, or your credentials lack s3:ListBucket). "
                    "Set ini cloud_stack_artifact_bucket to a bucket of yours"
                ) from None
            raise PackagingError(f"cannot check {self.what} {self.name!r}: {error}") from None
        if self.owned:
            self._check_ours()
        self._ready = True

    def _check_ours(self) -> None:
        from botocore.exceptions import ClientError

        try:
            tags = self.s3.get_bucket_tagging(Bucket=self.name, **self._owner())["TagSet"]
        except ClientError as error:
            if error_code(error) != "NoSuchTagSet":
                raise PackagingError(
                    f"cannot read the tags of bucket {self.name!r}: {error}"
                ) from None
            tags = []
        if {tag["Key"]: tag["Value"] for tag in tags}.get(OWNERSHIP_TAG) != "true":
            raise PackagingError(
                f"bucket {self.name!r} exists but is not pytest-cloudstack's (it has no tag "
                f"{OWNERSHIP_TAG}=true), so nothing is uploaded to it. Set ini "
                "cloud_stack_artifact_bucket to a bucket for the plugin to use, or tag this one "
                f"{OWNERSHIP_TAG}=true if it is yours"
            )

    def _create(self) -> None:
        from botocore.exceptions import ClientError

        arguments: dict[str, Any] = {"Bucket": self.name}
        if self.region != "us-east-1":  # us-east-1 refuses its own name as a LocationConstraint
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.s3.create_bucket(**arguments)
        except ClientError as error:
            if error_code(error) != "BucketAlreadyOwnedByYou":  # a concurrent first run: fine
                raise PackagingError(f"cannot create {self.what} {self.name!r}: {error}") from None
        if not self.owned:
            return
        # Tag first: a bucket left untagged by an interrupted run would be refused as foreign.
        self.s3.put_bucket_tagging(
            Bucket=self.name,
            Tagging={
                "TagSet": [
                    {"Key": OWNERSHIP_TAG, "Value": "true"},
                    {"Key": PURPOSE_TAG, "Value": "artifacts"},
                ]
            },
        )
        self.s3.put_public_access_block(
            Bucket=self.name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        self.s3.put_bucket_encryption(
            Bucket=self.name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        # Content-hash keys are re-checked before every deploy, so an expired artifact that is
        # still needed is simply uploaded again.
        self.s3.put_bucket_lifecycle_configuration(
            Bucket=self.name,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "cloudstack-expire-artifacts",
                        "Filter": {"Prefix": ""},
                        "Status": "Enabled",
                        "Expiration": {"Days": EXPIRY_DAYS},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    }
                ]
            },
        )

    def exists(self, key: str) -> bool:
        """Whether ``key`` is in the bucket already."""
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=self.name, Key=key, **self._owner())
        except ClientError as error:
            if _status(error) == 404 or error_code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put(self, upload: Upload) -> bool:
        """Upload unless the object exists; True when it was uploaded."""
        if self.exists(upload.key):
            return False
        source = upload.source
        if isinstance(source, bytes):
            self.s3.put_object(Bucket=self.name, Key=upload.key, Body=source, **self._owner())
        elif source.stat().st_size > _MULTIPART_ABOVE:
            # boto3's managed transfer: multipart, retried part by part.
            self.s3.upload_file(str(source), self.name, upload.key, ExtraArgs=self._owner() or None)
        else:
            with source.open("rb") as body:
                self.s3.put_object(Bucket=self.name, Key=upload.key, Body=body, **self._owner())
        return True


BucketFactory = Callable[[], ArtifactBucket]


def _status(error: Any) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))

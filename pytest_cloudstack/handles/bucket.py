"""``Bucket``: an S3 bucket of the stack."""

from __future__ import annotations

from typing import Any

from pytest_cloudstack.handles._common import (
    ClientSource,
    decode_json,
    handle_repr,
    is_error,
    to_text,
)

_DELETE_BATCH = 1000  # DeleteObjects' limit


class Bucket:
    """An S3 bucket. ``.bucket`` is the boto3 ``Bucket`` resource, ``.client`` the client."""

    def __init__(self, clients: ClientSource, name: str, logical_id: str | None = None) -> None:
        self.logical_id = logical_id
        self.name = name.removeprefix("arn:aws:s3:::")
        #: the boto3 S3 client
        self.client: Any = clients.client("s3")
        #: the boto3 ``Bucket`` resource
        self.bucket: Any = clients.resource("s3").Bucket(self.name)

    def put(self, key: str, body: object, **kwargs: Any) -> None:
        """PutObject. ``body``: ``bytes`` or ``str`` as they are, anything else as JSON (with
        ``ContentType: application/json`` unless given). Keyword arguments go to PutObject."""
        if not isinstance(body, (bytes, bytearray, str)):
            kwargs.setdefault("ContentType", "application/json")
        data = bytes(body) if isinstance(body, (bytes, bytearray)) else to_text(body).encode()
        self.client.put_object(Bucket=self.name, Key=key, Body=data, **kwargs)

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such key."""
        try:
            response = self.client.get_object(Bucket=self.name, Key=key)
        except Exception as error:
            if is_error(error, "NoSuchKey"):
                return None
            raise
        return bytes(response["Body"].read())

    def get_json(self, key: str) -> Any:
        """The object decoded as JSON, or None when there is no such key."""
        data = self.get(key)
        return None if data is None else decode_json(data)

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix``, in S3's (lexicographic) order, all pages read."""
        paginator = self.client.get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=self.name, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def clear(self) -> int:
        """Delete every object version and delete marker (also in unversioned buckets, where the
        one version is ``null``); return how many were deleted."""
        paginator = self.client.get_paginator("list_object_versions")
        deleted = 0
        for page in paginator.paginate(Bucket=self.name):
            entries = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for listing in ("Versions", "DeleteMarkers")
                for item in page.get(listing, [])
            ]
            for start in range(0, len(entries), _DELETE_BATCH):
                chunk = entries[start : start + _DELETE_BATCH]
                response = self.client.delete_objects(
                    Bucket=self.name, Delete={"Objects": chunk, "Quiet": True}
                )
                errors = response.get("Errors", [])
                if errors:
                    first = errors[0]
                    raise RuntimeError(
                        f"S3 could not delete {len(errors)} object version(s) in {self.name}, "
                        f"e.g. {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                    )
                deleted += len(chunk)
        return deleted

    def __repr__(self) -> str:
        return handle_repr("Bucket", self.logical_id, self.name)

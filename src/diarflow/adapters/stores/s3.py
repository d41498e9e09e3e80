"""A store in an S3 bucket (AWS or any S3-compatible server, e.g. SeaweedFS, MinIO).

Endpoint and credentials come from the standard AWS configuration
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, profiles). boto3 is imported only when
an S3 store is opened, so local runs never pay for it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from diarflow.adapters.stores.base import check_key
from diarflow.errors import ArtifactNotFound, InvalidConfig, StorageError, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MULTIPART_THRESHOLD = 64 * 1024 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_PRECONDITION = {"412", "PreconditionFailed", "ConditionalRequestConflict", "409"}
_TRANSIENT = {"500", "502", "503", "504", "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"}


class S3Store:
    """Objects under ``s3://bucket/prefix``; S3 writes are atomic by nature."""

    def __init__(self, bucket: str, prefix: str = "", *, client: S3Client | None = None) -> None:
        if not 3 <= len(bucket) <= 63:
            raise InvalidConfig("store", f"S3 bucket name {bucket!r} must be 3-63 characters long")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = client or _make_client()

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        full = self._key(key)
        with _mapped(self, key):
            if len(data) < _MULTIPART_THRESHOLD:
                self._client.put_object(Bucket=self.bucket, Key=full, Body=data, ContentType=content_type)
            else:
                # Multipart uploads become visible only when completed: still atomic.
                self._client.upload_fileobj(
                    io.BytesIO(data), self.bucket, full, ExtraArgs={"ContentType": content_type}
                )

    def create_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        full = self._key(key)
        try:
            with _mapped(self, key):
                self._client.put_object(
                    Bucket=self.bucket, Key=full, Body=data, ContentType=content_type, IfNoneMatch="*"
                )
        except _PreconditionFailed:
            return False
        return True

    def get_bytes(self, key: str) -> bytes:
        full = self._key(key)
        with _mapped(self, key):
            response = self._client.get_object(Bucket=self.bucket, Key=full)
            return response["Body"].read()

    def exists(self, key: str) -> bool:
        full = self._key(key)
        try:
            with _mapped(self, key):
                self._client.head_object(Bucket=self.bucket, Key=full)
        except ArtifactNotFound:
            return False
        return True

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        strip = len(self.prefix)
        with _mapped(self, prefix):
            keys = [
                item["Key"][strip:]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
                for item in page.get("Contents", [])
            ]
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        full = self._key(key)
        with _mapped(self, key):
            self._client.delete_object(Bucket=self.bucket, Key=full)


class _PreconditionFailed(Exception):
    pass


@contextmanager
def _mapped(store: S3Store, key: str) -> Iterator[None]:
    """Map botocore's exceptions to diarflow's storage errors (no credentials in messages)."""
    from botocore import exceptions as boto_errors

    where = f"{store.url}/{key}"
    try:
        yield
    except boto_errors.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _PRECONDITION or status in _PRECONDITION:
            raise _PreconditionFailed() from None
        if code in _NOT_FOUND or (status == "404" and code != "NoSuchBucket"):
            raise ArtifactNotFound(f"{key} does not exist in {store.url}", key=key) from None
        if code == "NoSuchBucket":
            raise StorageError(f"bucket {store.bucket!r} does not exist", key=key) from None
        if code in _TRANSIENT or status.startswith("5"):
            raise StorageUnavailable(f"S3 error {code or status} at {where}; retry later", key=key) from None
        raise StorageError(f"S3 refused the request for {where}: {code or status}", key=key) from None
    except boto_errors.NoCredentialsError:
        raise StorageError(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile)", key=key
        ) from None
    except (boto_errors.BotoCoreError, ConnectionError, TimeoutError) as exc:
        raise StorageUnavailable(
            f"cannot reach S3 at {where} ({type(exc).__name__}); retry when the server is back", key=key
        ) from None


def _make_client() -> S3Client:
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(
        region_name=region,
        connect_timeout=float(os.environ.get("DIARFLOW_S3_CONNECT_TIMEOUT", "5")),
        read_timeout=float(os.environ.get("DIARFLOW_S3_READ_TIMEOUT", "60")),
        retries={"mode": "standard", "max_attempts": int(os.environ.get("DIARFLOW_S3_MAX_ATTEMPTS", "3"))},
        # Self-hosted servers rarely have wildcard DNS for virtual-hosted buckets.
        s3={"addressing_style": "path" if endpoint else "auto"},
    )
    kwargs: dict[str, Any] = {"config": config}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    return boto3.client("s3", **kwargs)

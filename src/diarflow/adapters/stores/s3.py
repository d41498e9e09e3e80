"""A store in an S3 bucket (AWS or any S3-compatible server, e.g. SeaweedFS, MinIO).

Endpoint and credentials come from the standard AWS configuration
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, profiles), read when the store is
opened. boto3 is imported only when an S3 store is opened, so local runs never
pay for it.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from diarflow.adapters.stores.base import check_key, check_prefix
from diarflow.errors import ArtifactNotFound, InvalidConfig, InvalidInput, StorageError, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Objects this large go up in parts (which S3 makes visible only once complete).
_MULTIPART_THRESHOLD = 64 * 1024 * 1024
_MULTIPART_CHUNK = 16 * 1024 * 1024
#: How often a conditional write is retried when S3 answers 409 (another conditional write is in flight).
_CONFLICT_ATTEMPTS = 5

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_PRECONDITION_FAILED = {"412", "PreconditionFailed"}
_CONDITIONAL_CONFLICT = "ConditionalRequestConflict"
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_TRANSIENT = {
    "429",
    "500",
    "502",
    "503",
    "504",
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "OperationAborted",
}
# Lenient on purpose (S3-compatible servers accept more than AWS does); boto3 checks the rest.
_BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")


class S3Store:
    """Objects under ``s3://bucket/prefix``; S3 writes are atomic by nature."""

    def __init__(self, bucket: str, prefix: str = "", *, client: S3Client | None = None) -> None:
        if not _BUCKET_NAME.fullmatch(bucket):
            raise InvalidConfig(
                "store",
                f"S3 bucket name {bucket[:80]!r} must be 3-63 letters, digits, '.', '-' or '_', "
                "starting and ending with a letter or digit",
            )
        prefix = prefix.strip("/")
        if prefix:
            try:
                check_key(prefix)
            except InvalidInput as exc:
                raise InvalidConfig("store", f"S3 prefix {exc.problem}") from None
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = client if client is not None else _make_client()
        self.endpoint = _safe_endpoint(self._client)

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, endpoint={self.endpoint!r})"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        full = self._key(key)
        with _MapErrors(self, key):
            if len(data) < _MULTIPART_THRESHOLD:
                self._client.put_object(Bucket=self.bucket, Key=full, Body=data, ContentType=content_type)
            else:
                from boto3.s3.transfer import TransferConfig

                # Multipart uploads become visible only when completed: still atomic.
                config = TransferConfig(multipart_threshold=_MULTIPART_THRESHOLD, multipart_chunksize=_MULTIPART_CHUNK)
                self._client.upload_fileobj(
                    io.BytesIO(data), self.bucket, full, ExtraArgs={"ContentType": content_type}, Config=config
                )

    def create_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        from botocore.exceptions import ClientError

        full = self._key(key)
        for attempt in range(_CONFLICT_ATTEMPTS):
            with _MapErrors(self, key):
                try:
                    self._client.put_object(
                        Bucket=self.bucket, Key=full, Body=data, ContentType=content_type, IfNoneMatch="*"
                    )
                except ClientError as exc:
                    code, status = _code_and_status(exc)
                    if code in _PRECONDITION_FAILED or status == "412":
                        return False
                    if code != _CONDITIONAL_CONFLICT:
                        raise
                else:
                    return True
            # 409: a concurrent conditional write to the key is in flight; S3 asks us to retry.
            time.sleep(0.05 * 2**attempt)
        raise StorageUnavailable(
            f"conditional writes to {self.url}/{key} kept conflicting ({_CONDITIONAL_CONFLICT}); retry later", key=key
        )

    def get_bytes(self, key: str) -> bytes:
        full = self._key(key)
        with _MapErrors(self, key):
            body = self._client.get_object(Bucket=self.bucket, Key=full)["Body"]
            try:
                return body.read()
            finally:
                body.close()

    def exists(self, key: str) -> bool:
        full = self._key(key)
        try:
            with _MapErrors(self, key):
                self._client.head_object(Bucket=self.bucket, Key=full)
        except ArtifactNotFound:
            return False
        return True

    def version(self, key: str) -> str | None:
        head = self._head(key)
        return (
            None
            if head is None
            else f"{head.get('ETag', '')}-{head.get('LastModified', '')}-{head.get('ContentLength', '')}"
        )

    def size(self, key: str) -> int | None:
        """The object's size in bytes (HEAD), None if absent: lets callers refuse an oversized input unread."""
        head = self._head(key)
        return None if head is None else int(head.get("ContentLength", 0))

    def _head(self, key: str) -> Mapping[str, Any] | None:
        full = self._key(key)
        try:
            with _MapErrors(self, key):
                return self._client.head_object(Bucket=self.bucket, Key=full)
        except ArtifactNotFound:
            return None

    def list(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        strip = len(self.prefix)
        with _MapErrors(self, prefix):
            paginator = self._client.get_paginator("list_objects_v2")
            keys = [
                item["Key"][strip:]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
                for item in page.get("Contents", [])
            ]
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        full = self._key(key)
        with _MapErrors(self, key):
            self._client.delete_object(Bucket=self.bucket, Key=full)


class _MapErrors:
    """Map boto3's exceptions to diarflow's storage errors (no credentials in messages)."""

    def __init__(self, store: S3Store, key: str) -> None:
        self.store = store
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if isinstance(exc, Exception) and not isinstance(exc, StorageError):
            error = _translate(exc, self.store, self.key)
            if error is not None:
                raise error from None
        return False


def _translate(exc: Exception, store: S3Store, key: str) -> StorageError | None:
    """The storage error for a boto3/botocore exception; None for anything else (a bug: let it through)."""
    from boto3.exceptions import Boto3Error
    from botocore import exceptions as boto

    where = f"{store.url}/{key}"
    if isinstance(exc, boto.ClientError):
        code, status = _code_and_status(exc)
        if code in _NOT_FOUND or (status == "404" and code not in ("NoSuchBucket", "NoSuchUpload")):
            return ArtifactNotFound(f"{key} does not exist in {store.url}", key=key)
        if code == "NoSuchBucket":
            return StorageError(f"bucket {store.bucket!r} does not exist at {store.endpoint}", key=key)
        if code in _DENIED or status == "403":
            return StorageError(
                f"S3 at {store.endpoint} denied access to {where} ({code or status}): "
                "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's permissions",
                key=key,
            )
        if code in _TRANSIENT or status in _TRANSIENT or status.startswith("5"):
            return StorageUnavailable(f"S3 error {code or status} at {where}; retry later", key=key)
        return StorageError(f"S3 refused the request for {where}: {code or status}", key=key)
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError | boto.CredentialRetrievalError):
        return StorageError(
            f"no usable S3 credentials for {store.url} ({type(exc).__name__}): "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile)",
            key=key,
        )
    unreachable = (boto.ConnectionError, boto.HTTPClientError, boto.IncompleteReadError, ConnectionError, TimeoutError)
    if isinstance(exc, unreachable):
        return StorageUnavailable(
            f"cannot reach S3 at {store.endpoint} for {where} ({type(exc).__name__}); retry when the server is back",
            key=key,
        )
    if isinstance(exc, boto.BotoCoreError | Boto3Error):
        return StorageError(f"S3 request for {where} failed ({type(exc).__name__})", key=key)
    return None


def _code_and_status(exc: Any) -> tuple[str, str]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return code, status


def _safe_endpoint(client: Any) -> str:
    """The client's endpoint as ``scheme://host[:port]``: never user info, path or query."""
    try:
        parts = urlsplit(str(client.meta.endpoint_url))
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except (AttributeError, ValueError):
        return "S3"
    return f"{parts.scheme}://{host}{port}"


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidConfig(name, f"must be a number, not {raw[:40]!r}") from None
    if value <= 0:
        raise InvalidConfig(name, "must be positive")
    return value


def _make_client() -> S3Client:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(
        region_name=region,
        connect_timeout=_env_number("DIARFLOW_S3_CONNECT_TIMEOUT", 5),
        read_timeout=_env_number("DIARFLOW_S3_READ_TIMEOUT", 60),
        retries={"mode": "standard", "max_attempts": int(_env_number("DIARFLOW_S3_MAX_ATTEMPTS", 3))},
        # Self-hosted servers rarely have wildcard DNS for virtual-hosted buckets.
        s3={"addressing_style": "path" if endpoint else "auto"},
    )
    try:
        # A session of our own: boto3's default session is not thread-safe and caches the first
        # credentials it resolves, so a store opened later would silently keep using old ones.
        return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)
    except (BotoCoreError, ValueError) as exc:
        raise InvalidConfig(
            "store",
            f"cannot set up the S3 client ({type(exc).__name__}): check AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE",
        ) from None

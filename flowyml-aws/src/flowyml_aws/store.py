"""``s3://bucket/prefix`` storage: whole-object PUTs, create-only via ``If-None-Match``, parallel multipart.

An S3 PUT (or a completed multipart upload) replaces an object in one step, so readers see the
old object or the new one, never half of either. ``create_only`` sends ``IfNoneMatch="*"`` (S3
answers 412 if the key exists) on the PUT, or on ``CompleteMultipartUpload``; a multipart upload
checks with a HEAD first too, so it does not upload parts it would throw away.

Streams (``open_write``/``open_read``): objects up to ``multipart_threshold_mb`` go in one PUT;
larger ones in parts of ``multipart_chunk_mb`` (growing after every 1000 parts, S3 allows 10,000),
``max_concurrency`` parts in flight. Reads are ranged GETs of up to 8 MiB, ``max_concurrency``
fetched ahead, all pinned to the ETag the read started with.
"""

from __future__ import annotations

__all__ = ["S3Storage"]

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import urlparse

from flowyml.artifacts.storage import check_key, folder_prefix
from flowyml.artifacts.streams import READ_CHUNK, MiB, PartWriter, RangeReader
from flowyml.core.errors import ArtifactError, ArtifactNotFoundError, ConfigError
from flowyml_aws.client import call, client, error_code
from flowyml_aws.config import S3Settings

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_EXISTS = {"PreconditionFailed", "412"}
DEFAULT_CONCURRENCY = 8
log = logging.getLogger("flowyml.aws")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ArtifactError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.strip("/")


class S3Storage:
    """The :class:`flowyml.artifacts.storage.Storage` of ``s3://`` URIs."""

    def __init__(self, root: str, settings: Mapping[str, Any] | None = None) -> None:
        self.bucket, self.prefix = parse_s3_uri(root)
        self.settings = S3Settings.from_mapping(dict(settings or {}))
        self.root = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._client: Any = None
        value = (settings or {}).get("max_concurrency", DEFAULT_CONCURRENCY)
        try:
            self.concurrency = max(1, int(value))
        except (TypeError, ValueError):
            raise ConfigError(f"s3 store setting max_concurrency: expected a number, got {value!r}") from None
        self.part_size = max(5, self.settings.multipart_chunk_mb) * MiB
        self.threshold = self.settings.multipart_threshold_mb * MiB

    @property
    def s3(self) -> Any:
        if self._client is None:
            self._client = client(
                "s3",
                region=self.settings.region,
                endpoint_url=self.settings.endpoint_url,
                profile=self.settings.profile,
                addressing_style=self.settings.addressing_style,
                source="artifact_store.settings.region, or orchestrator.region when the store sets none",
            )
        return self._client

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    # -- writes ------------------------------------------------------------------------------
    def write_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> bool:
        if len(data) > self.threshold:
            with self.open_write(key, create_only=create_only) as stream:
                stream.write(data)
            return bool(stream.created)
        return self._put(key, data, create_only)

    def _put(self, key: str, data: bytes | bytearray, create_only: bool) -> bool:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data}
        if create_only:
            kwargs["IfNoneMatch"] = "*"
        try:
            call(lambda: self.s3.put_object(**kwargs), f"s3 put {self.uri(key)}")
        except ClientError as exc:
            if create_only and error_code(exc) in _EXISTS:
                return False
            raise ArtifactError(f"cannot write {self.uri(key)}: {exc}") from exc
        return True

    def open_write(self, key: str, *, create_only: bool = False) -> S3Writer:
        return S3Writer(self, key, create_only)

    # -- reads -------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            return call(
                lambda: self.s3.get_object(Bucket=self.bucket, Key=full)["Body"].read(), f"s3 get {self.uri(key)}"
            )
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from None
            raise ArtifactError(f"cannot read {self.uri(key)}: {exc}") from exc

    def open_read(self, key: str) -> S3Reader:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            head = call(lambda: self.s3.head_object(Bucket=self.bucket, Key=full), f"s3 head {self.uri(key)}")
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from None
            raise ArtifactError(f"cannot read {self.uri(key)}: {exc}") from exc
        return S3Reader(self, key, int(head["ContentLength"]), head["ETag"])

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            call(lambda: self.s3.head_object(Bucket=self.bucket, Key=full), f"s3 head {self.uri(key)}")
            return True
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return False
            raise ArtifactError(f"cannot check {self.uri(key)}: {exc}") from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        search = base + folder_prefix(prefix)
        keys: list[str] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": search}
            if token:
                kwargs["ContinuationToken"] = token
            page: dict[str, Any] = call(partial(self.s3.list_objects_v2, **kwargs), f"s3 list {self.root}/{prefix}")
            keys += [obj["Key"][len(base) :] for obj in page.get("Contents", []) if not obj["Key"].endswith("/")]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return sorted(keys)


class S3Writer(PartWriter):
    """One PUT below the threshold, else a multipart upload with parallel parts (aborted on failure)."""

    def __init__(self, storage: S3Storage, key: str, create_only: bool) -> None:
        super().__init__(
            part_size=storage.part_size,
            threshold=storage.threshold,
            concurrency=storage.concurrency,
            create_only=create_only,
        )
        self.storage = storage
        self.key = key
        self.full = storage._key(key)
        self.upload_id = ""
        self._exists = False

    def _put(self, data: bytes) -> bool:
        return self.storage._put(self.key, data, self.create_only)

    def _part_size(self, number: int) -> int:
        return self.part_size * 2 ** ((number - 1) // 1000)

    def _begin(self) -> None:
        if self.create_only and self.storage.exists(self.key):
            self._exists = True  # the upload would be refused: send nothing
            return
        s3, what = self.storage.s3, f"s3 create_multipart_upload {self.storage.uri(self.key)}"
        self.upload_id = call(lambda: s3.create_multipart_upload(Bucket=self.storage.bucket, Key=self.full), what)[
            "UploadId"
        ]

    def _upload_part(self, number: int, data: bytearray) -> dict[str, Any]:
        if self._exists:
            return {}
        s3 = self.storage.s3
        etag = call(
            lambda: s3.upload_part(
                Bucket=self.storage.bucket, Key=self.full, UploadId=self.upload_id, PartNumber=number, Body=data
            )["ETag"],
            f"s3 upload_part {number} of {self.storage.uri(self.key)}",
        )
        return {"PartNumber": number, "ETag": etag}

    def _complete(self, parts: list[Any]) -> bool:
        from botocore.exceptions import ClientError

        if self._exists:
            return False
        kwargs: dict[str, Any] = {
            "Bucket": self.storage.bucket,
            "Key": self.full,
            "UploadId": self.upload_id,
            "MultipartUpload": {"Parts": parts},
        }
        if self.create_only:
            kwargs["IfNoneMatch"] = "*"
        try:
            call(lambda: self.storage.s3.complete_multipart_upload(**kwargs), "s3 complete_multipart_upload")
        except ClientError as exc:
            if self.create_only and error_code(exc) in _EXISTS:
                self._cancel()
                return False
            raise ArtifactError(f"cannot write {self.storage.uri(self.key)}: {exc}") from exc
        return True

    def _cancel(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.upload_id:
            return
        upload_id, self.upload_id = self.upload_id, ""
        try:
            self.storage.s3.abort_multipart_upload(Bucket=self.storage.bucket, Key=self.full, UploadId=upload_id)
        except (ClientError, BotoCoreError) as exc:  # the bucket's lifecycle rule for incomplete uploads cleans up
            log.warning("abort of multipart upload %s failed: %s", upload_id, exc)


class S3Reader(RangeReader):
    """Ranged GETs of one object version (``IfMatch`` its ETag), fetched ahead in parallel."""

    def __init__(self, storage: S3Storage, key: str, size: int, etag: str) -> None:
        super().__init__(size, chunk=min(storage.part_size, READ_CHUNK), window=storage.concurrency)
        self.storage = storage
        self.key = key
        self.etag = etag

    def _fetch(self, start: int, length: int) -> bytes:
        from botocore.exceptions import ClientError

        storage = self.storage
        full = storage._key(self.key)
        what = f"s3 get {storage.uri(self.key)} bytes {start}-{start + length - 1}"
        try:
            # the body is read inside the retried call: a connection dropped mid-body is tried again
            return call(
                lambda: storage.s3.get_object(
                    Bucket=storage.bucket, Key=full, Range=f"bytes={start}-{start + length - 1}", IfMatch=self.etag
                )["Body"].read(),
                what,
            )
        except ClientError as exc:
            if error_code(exc) in _EXISTS or error_code(exc) in _NOT_FOUND:
                raise ArtifactError(f"{storage.uri(self.key)} was replaced or deleted while being read") from exc
            raise ArtifactError(f"cannot read {storage.uri(self.key)}: {exc}") from exc

"""``s3://bucket/prefix`` storage: whole-object PUTs, create-only via ``If-None-Match``, multipart for large data.

An S3 PUT (or a completed multipart upload) replaces an object in one step, so readers see the
old object or the new one, never half of either. ``create_only`` uses a conditional PUT
(``IfNoneMatch="*"``: S3 answers 412 if the key exists). Multipart uploads above
``multipart_threshold_mb`` check with a HEAD first (a small race window: two writers of the same
key at the same instant could both upload; flowyml's data keys are content-addressed, so both
write the same bytes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from flowyml.artifacts.storage import check_key
from flowyml.core.errors import ArtifactError, ArtifactNotFoundError
from flowyml_aws.client import call, client, error_code
from flowyml_aws.config import S3Settings

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_EXISTS = {"PreconditionFailed", "412"}


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

    @property
    def s3(self) -> Any:
        if self._client is None:
            self._client = client(
                "s3",
                region=self.settings.region,
                endpoint_url=self.settings.endpoint_url,
                profile=self.settings.profile,
                addressing_style=self.settings.addressing_style,
            )
        return self._client

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    # -- writes ------------------------------------------------------------------------------
    def write_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> bool:
        from botocore.exceptions import ClientError

        full = self._key(key)
        if len(data) >= self.settings.multipart_threshold_mb * 1024 * 1024:
            if create_only and self.exists(key):
                return False
            self._multipart(full, data)
            return True
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full, "Body": data}
        if create_only:
            kwargs["IfNoneMatch"] = "*"
        try:
            call(lambda: self.s3.put_object(**kwargs), f"s3 put {self.uri(key)}")
        except ClientError as exc:
            if create_only and error_code(exc) in _EXISTS:
                return False
            raise ArtifactError(f"cannot write {self.uri(key)}: {exc}") from exc
        return True

    def _multipart(self, full: str, data: bytes) -> None:
        """Upload in parts; the object appears only at CompleteMultipartUpload (aborted on error)."""
        from botocore.exceptions import ClientError

        s3 = self.s3
        chunk = max(5, self.settings.multipart_chunk_mb) * 1024 * 1024
        upload = call(lambda: s3.create_multipart_upload(Bucket=self.bucket, Key=full), "s3 create_multipart_upload")
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, len(data), chunk), start=1):
                body = data[start : start + chunk]
                etag = call(
                    lambda n=number, b=body: s3.upload_part(
                        Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=n, Body=b
                    )["ETag"],
                    "s3 upload_part",
                )
                parts.append({"PartNumber": number, "ETag": etag})
            call(
                lambda: s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
                ),
                "s3 complete_multipart_upload",
            )
        except BaseException:
            try:
                s3.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            except ClientError as abort_exc:  # the lifecycle rule for incomplete uploads cleans up
                import logging

                logging.getLogger("flowyml.aws").warning(
                    "abort of multipart upload %s failed: %s", upload_id, abort_exc
                )
            raise

    # -- reads -------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            obj = call(lambda: self.s3.get_object(Bucket=self.bucket, Key=full), f"s3 get {self.uri(key)}")
            return obj["Body"].read()
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from None
            raise ArtifactError(f"cannot read {self.uri(key)}: {exc}") from exc

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
        keys: list[str] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base + prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = call(lambda kw=kwargs: self.s3.list_objects_v2(**kw), f"s3 list {self.root}/{prefix}")
            keys += [obj["Key"][len(base) :] for obj in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return sorted(keys)

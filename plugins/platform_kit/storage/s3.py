"""S3 (and S3-compatible) store: multipart streaming uploads that abort on any error."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from platform_kit.exceptions import StorageError
from platform_kit.storage.base import ErrorTranslator, MiB, ObjectInfo, ObjectStore, ObjectWriter
from platform_kit.utils import one_line

log = logging.getLogger(__name__)

MIN_PART_SIZE = 8 * MiB
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
# Plan for fewer parts than the hard limit so an estimate that is a little low still fits.
PLANNED_PARTS = 9_000


def choose_part_size(expected_size: int | None) -> int:
    """Part size for a stream of about ``expected_size`` bytes: at least 8 MiB, whole MiB, at most 5 GiB,
    and small enough in count that the upload stays under 10,000 parts."""
    if not expected_size or expected_size <= 0:
        return MIN_PART_SIZE
    size = math.ceil(expected_size / PLANNED_PARTS / MiB) * MiB
    return max(MIN_PART_SIZE, min(size, MAX_PART_SIZE))


def _grown_part_size(base: int, part_number: int) -> int:
    """If the estimate was too low, double the part size every 250 parts beyond 8,000 (S3 allows parts
    of different sizes): from an 8 MiB start the ceiling rises from ~78 GiB to ~1 TiB."""
    if part_number <= 8_000:
        return base
    return min(MAX_PART_SIZE, base * 2 ** ((part_number - 8_000) // 250 + 1))


class S3Writer(ObjectWriter):
    """Buffers one part while the previous one uploads in a background thread (at most two parts in
    memory). Objects smaller than one part are sent with a single ``PutObject``."""

    def __init__(self, client: Any, bucket: str, key: str, part_size: int) -> None:
        super().__init__(key)
        self._client = client
        self._bucket = bucket
        self._base_part_size = part_size
        # Incoming chunks of the part being filled, joined once per part (a bytearray that is sliced and
        # copied per part would hold two extra part-sized copies at the peak).
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._pending: Future | None = None
        self._executor: ThreadPoolExecutor | None = None

    def _next_part_size(self) -> int:
        return _grown_part_size(self._base_part_size, len(self._parts) + 1)

    def _write(self, data: bytes) -> None:
        while data:
            room = self._next_part_size() - self._buffered
            piece, data = data[:room], data[room:]  # no copy unless the chunk straddles a part boundary
            self._chunks.append(piece)
            self._buffered += len(piece)
            if self._buffered >= self._next_part_size():
                self._send_part(self._take_buffer())

    def _take_buffer(self) -> bytes:
        part = b"".join(self._chunks)
        self._chunks, self._buffered = [], 0
        return part

    def _send_part(self, part: bytes) -> None:
        if self._upload_id is None:
            response = self._client.create_multipart_upload(Bucket=self._bucket, Key=self.key)
            self._upload_id = response["UploadId"]
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part")
        self._wait_pending()
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError(
                f"upload of {self.key} would exceed {MAX_PARTS} parts; pass a larger expected size"
            )
        self._parts.append({"PartNumber": number})
        assert self._executor is not None
        self._pending = self._executor.submit(self._upload_part, number, part)

    def _upload_part(self, number: int, part: bytes) -> None:
        response = self._client.upload_part(
            Bucket=self._bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=part
        )
        self._parts[number - 1]["ETag"] = response["ETag"]

    def _wait_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _commit(self) -> None:
        if self._upload_id is None:
            self._client.put_object(Bucket=self._bucket, Key=self.key, Body=self._take_buffer())
            return
        if self._buffered:
            self._send_part(self._take_buffer())
        self._wait_pending()
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._shutdown()

    def _abort(self) -> None:
        self._chunks, self._buffered = [], 0
        try:
            if self._pending is not None:
                self._pending.exception()
        finally:
            self._pending = None
            self._shutdown()
            if self._upload_id is not None:
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self.key, UploadId=self._upload_id
                )

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ``ClientError`` (``"NoSuchBucket"``, ``"403"``...), else ``""``."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Store(ObjectStore):
    """A bucket on S3 or an S3-compatible endpoint, through a boto3 client."""

    scheme = "s3"
    max_delete_batch = 1000

    def __init__(self, client: Any, bucket: str, *, translate_error: ErrorTranslator | None = None) -> None:
        """:param client: a boto3 S3 client (see :func:`platform_kit.storage.clients.s3_client`).
        :param translate_error: see :class:`~platform_kit.storage.base.ObjectStore`."""
        super().__init__(bucket, translate_error=translate_error)
        self.client = client

    def _open_writer(self, key: str, *, expected_size: int | None) -> S3Writer:
        return S3Writer(self.client, self.bucket, key, choose_part_size(expected_size))

    def _open_reader(self, key: str) -> BinaryIO:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]  # streamed, never buffered

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], int(item["Size"]), item.get("LastModified"))

    def _head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(key, int(response["ContentLength"]), response.get("LastModified"))

    def _delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def _check_bucket(self) -> None:
        # A missing bucket (404) or a refusal (403) becomes a one-line StorageError in translate_error.
        self.client.head_bucket(Bucket=self.bucket)

    def _delete_many(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        # Quiet: the answer lists only the keys that could not be deleted.
        response = self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )
        return [
            (error["Key"], " ".join(filter(None, (error.get("Code"), error.get("Message")))) or "refused")
            for error in response.get("Errors", [])
        ]

    def _versioning_enabled(self) -> bool:
        return self.client.get_bucket_versioning(Bucket=self.bucket).get("Status") == "Enabled"

    def _get_lifecycle(self) -> dict:
        try:
            response = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
        except Exception as exc:
            if error_code(exc) == "NoSuchLifecycleConfiguration":
                return {"Rules": []}
            raise StorageError(
                f"cannot read the lifecycle rules of S3 bucket {self.bucket!r} ({one_line(exc)}); grant "
                "s3:GetLifecycleConfiguration to the aws connection's identity"
            ) from exc
        config: dict[str, Any] = {"Rules": response.get("Rules", [])}
        if "TransitionDefaultMinimumObjectSize" in response:
            config["TransitionDefaultMinimumObjectSize"] = response["TransitionDefaultMinimumObjectSize"]
        return config

    def _put_lifecycle(self, config: dict) -> None:
        try:
            if config.get("Rules"):
                extra = {key: config[key] for key in ("TransitionDefaultMinimumObjectSize",) if key in config}
                self.client.put_bucket_lifecycle_configuration(
                    Bucket=self.bucket, LifecycleConfiguration={"Rules": config["Rules"]}, **extra
                )
            else:
                self.client.delete_bucket_lifecycle(Bucket=self.bucket)
        except Exception as exc:
            raise StorageError(
                f"cannot set the lifecycle rules of S3 bucket {self.bucket!r} ({one_line(exc)}); grant "
                "s3:PutLifecycleConfiguration to the aws connection's identity"
            ) from exc

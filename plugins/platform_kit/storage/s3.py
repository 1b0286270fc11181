"""S3 (and S3-compatible) store: multipart streaming uploads that abort on any error.

Conditional writes use S3's ``If-None-Match: *`` (create only) and ``If-Match: <ETag>`` (replace only that
version) on ``PutObject`` and ``CompleteMultipartUpload``. An S3-compatible store that answers
``NotImplemented`` to them gets the write without the condition, with a warning: the unique set names
the backups and exports use still keep two runs apart there.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

from platform_kit.defaults import STORAGE_ABORT_WAIT_SECONDS
from platform_kit.exceptions import StorageConflictError, StorageError
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


#: Error codes of a conditional write that lost (412), or of two conditional writes racing (409).
_CONFLICT_CODES = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey")


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ``ClientError`` (``"NoSuchBucket"``, ``"403"``...), else ``""``."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def conditional(call: Callable[..., Any], conditions: dict[str, str], what: str, **kwargs: Any) -> Any:
    """``call(**kwargs, **conditions)``, with a lost condition as :class:`StorageConflictError`.

    :param what: the object's URL, for the message.
    """
    try:
        return call(**kwargs, **conditions)
    except Exception as exc:
        code = error_code(exc)
        if conditions and code in _CONFLICT_CODES:
            if "IfNoneMatch" in conditions:
                raise StorageConflictError(
                    f"{what} already exists: another run wrote it first, and this run never overwrites it"
                ) from exc
            raise StorageConflictError(
                f"{what} was changed or deleted by someone else since it was read; nothing was written"
            ) from exc
        if conditions and code in ("NotImplemented", "501"):
            log.warning(
                "%s: this S3-compatible store does not support conditional writes (%s); writing without "
                "the condition (unique set names still keep concurrent runs apart)",
                what,
                code,
            )
            return call(**kwargs)
        raise


class _PartUpload:
    """One part uploading in a daemon thread, so a hung endpoint cannot hold up the process exit."""

    def __init__(self, upload: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(upload,), name="s3-part", daemon=True)
        self._thread.start()

    def _run(self, upload: Callable[[], None]) -> None:
        try:
            upload()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def result(self) -> None:
        self.done.wait()
        if self.error is not None:
            raise self.error


class S3Writer(ObjectWriter):
    """Buffers one part while the previous one uploads in a background thread (at most two parts in
    memory). Objects smaller than one part are sent with a single ``PutObject``."""

    def __init__(
        self, client: Any, bucket: str, key: str, part_size: int, *, if_absent: bool = False
    ) -> None:
        super().__init__(key)
        self._client = client
        self._bucket = bucket
        self._conditions = {"IfNoneMatch": "*"} if if_absent else {}
        self._base_part_size = part_size
        # Incoming chunks of the part being filled, joined once per part (a bytearray that is sliced and
        # copied per part would hold two extra part-sized copies at the peak).
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._pending: _PartUpload | None = None

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

    def _url(self) -> str:
        return f"s3://{self._bucket}/{self.key}"

    def _send_part(self, part: bytes) -> None:
        if self._upload_id is None:
            response = self._client.create_multipart_upload(Bucket=self._bucket, Key=self.key)
            self._upload_id = response["UploadId"]
        self._wait_pending()
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError(
                f"upload of {self.key} would exceed {MAX_PARTS} parts; pass a larger expected size"
            )
        self._parts.append({"PartNumber": number})
        self._pending = _PartUpload(lambda: self._upload_part(number, part))

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
            conditional(
                self._client.put_object,
                self._conditions,
                self._url(),
                Bucket=self._bucket,
                Key=self.key,
                Body=self._take_buffer(),
            )
            return
        if self._buffered:
            self._send_part(self._take_buffer())
        self._wait_pending()
        conditional(
            self._client.complete_multipart_upload,
            self._conditions,
            self._url(),
            Bucket=self._bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    def _abort(self) -> None:
        self._chunks, self._buffered = [], 0
        if self._upload_id is None:
            return
        # Abort first, without waiting for a part still in flight (it may be what hangs). S3 may still
        # store a part that was uploading meanwhile, so once that part is done the abort is repeated.
        self._client.abort_multipart_upload(Bucket=self._bucket, Key=self.key, UploadId=self._upload_id)
        pending, self._pending = self._pending, None
        if pending is not None and pending.done.wait(STORAGE_ABORT_WAIT_SECONDS) and pending.error is None:
            try:
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self.key, UploadId=self._upload_id
                )
            except Exception as exc:
                if error_code(exc) not in ("NoSuchUpload", "404"):
                    raise


class S3Store(ObjectStore):
    """A bucket on S3 or an S3-compatible endpoint, through a boto3 client."""

    scheme = "s3"
    max_delete_batch = 1000

    def __init__(self, client: Any, bucket: str, *, translate_error: ErrorTranslator | None = None) -> None:
        """:param client: a boto3 S3 client (see :func:`platform_kit.storage.clients.s3_client`).
        :param translate_error: see :class:`~platform_kit.storage.base.ObjectStore`."""
        super().__init__(bucket, translate_error=translate_error)
        self.client = client

    def _open_writer(self, key: str, *, expected_size: int | None, if_absent: bool) -> S3Writer:
        return S3Writer(self.client, self.bucket, key, choose_part_size(expected_size), if_absent=if_absent)

    def _put_bytes(self, key: str, data: bytes, *, if_absent: bool, if_version: str | None) -> ObjectInfo:
        conditions = {"IfNoneMatch": "*"} if if_absent else {}
        if if_version is not None:
            conditions["IfMatch"] = if_version
        response = conditional(
            self.client.put_object, conditions, self.root.url_for(key), Bucket=self.bucket, Key=key, Body=data
        )
        return ObjectInfo(
            key, len(data), sha256=hashlib.sha256(data).hexdigest(), version=response.get("ETag")
        )

    def _open_reader(self, key: str) -> BinaryIO:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]  # streamed, never buffered

    def _read_versioned(self, key: str) -> tuple[bytes, str | None]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise StorageError(f"{self.root.url_for(key)} does not exist") from exc
            raise
        body = response["Body"]
        try:
            return body.read(), response.get("ETag")
        finally:
            body.close()

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
        return ObjectInfo(
            key, int(response["ContentLength"]), response.get("LastModified"), version=response.get("ETag")
        )

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

"""Google Cloud Storage store: resumable streaming uploads that are cancelled on any error.

Every call carries an explicit timeout and retry deadline (the library's defaults add up to three minutes
for an endpoint that never answers). Conditional writes use ``ifGenerationMatch``: ``0`` to create only,
the generation read earlier to replace only that version.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from platform_kit.defaults import (
    STORAGE_ABORT_WAIT_SECONDS,
    STORAGE_ATTEMPTS,
    STORAGE_CONNECT_TIMEOUT_SECONDS,
    STORAGE_READ_TIMEOUT_SECONDS,
)
from platform_kit.exceptions import StorageConflictError, StorageError
from platform_kit.storage.base import ErrorTranslator, MiB, ObjectInfo, ObjectStore, ObjectWriter
from platform_kit.utils import one_line

log = logging.getLogger(__name__)

CHUNK_QUANTUM = 256 * 1024
DEFAULT_CHUNK_SIZE = 16 * MiB
#: Calls per JSON-API batch request (GCS's documented limit).
MAX_BATCH_CALLS = 100
#: Listing asks only for what ObjectInfo holds: a smaller answer per page of 1,000 objects.
_LIST_FIELDS = "items(name,size,updated),nextPageToken"
#: (connect, read) seconds for every request.
TIMEOUT = (STORAGE_CONNECT_TIMEOUT_SECONDS, STORAGE_READ_TIMEOUT_SECONDS)
#: Stop retrying once this much time has gone by: with TIMEOUT, about as long as S3's attempts take.
RETRY_DEADLINE_SECONDS = (STORAGE_ATTEMPTS - 1) * STORAGE_READ_TIMEOUT_SECONDS


def _retry() -> Any:
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(RETRY_DEADLINE_SECONDS)


def _calls() -> dict[str, Any]:
    """The timeout and retry keywords every client call gets."""
    return {"timeout": TIMEOUT, "retry": _retry()}


@contextlib.contextmanager
def _conflicts_as_errors(url: str, *, create: bool) -> Iterator[None]:
    """A failed ``ifGenerationMatch`` (HTTP 412) as :class:`StorageConflictError`."""
    from google.api_core.exceptions import PreconditionFailed

    try:
        yield
    except PreconditionFailed as exc:
        if create:
            raise StorageConflictError(
                f"{url} already exists: another run wrote it first, and this run never overwrites it"
            ) from exc
        raise StorageConflictError(
            f"{url} was changed or deleted by someone else since it was read; nothing was written"
        ) from exc


class GCSWriter(ObjectWriter):
    """Wraps ``blob.open("wb")`` (a resumable upload). GCS only creates the object when the final chunk
    arrives, so cancelling the session before that leaves nothing behind."""

    def __init__(self, blob: Any, chunk_size: int, *, if_absent: bool = False) -> None:
        super().__init__(blob.name)
        if chunk_size <= 0 or chunk_size % CHUNK_QUANTUM:
            raise ValueError(f"GCS chunk_size must be a positive multiple of 256 KiB, got {chunk_size}")
        self._url = f"gs://{blob.bucket.name}/{blob.name}"
        self._if_absent = if_absent
        conditions = {"if_generation_match": 0} if if_absent else {}
        # ignore_flush: we never flush, but io wrappers may; a flush must not finalize the object.
        self._writer = blob.open("wb", chunk_size=chunk_size, ignore_flush=True, **_calls(), **conditions)

    def _write(self, data: bytes) -> None:
        with _conflicts_as_errors(self._url, create=self._if_absent):  # the session starts here
            self._writer.write(data)

    def _commit(self) -> None:
        with _conflicts_as_errors(self._url, create=self._if_absent):
            self._writer.close()

    def _abort(self) -> None:
        try:
            # BlobWriter.terminate() cancels the session with no timeout at all; same call, bounded.
            started = self._writer._upload_and_transport
            if started:
                upload, transport = started
                transport.delete(upload.upload_url, timeout=STORAGE_ABORT_WAIT_SECONDS)
        finally:
            # BlobWriter is an io object: if its buffer stayed open, garbage collection would call close()
            # and finalize a truncated object.
            self._writer._buffer.close()


class GCSStore(ObjectStore):
    """A bucket on GCS or a GCS emulator, through a ``google.cloud.storage.Client``."""

    scheme = "gs"
    max_delete_batch = MAX_BATCH_CALLS

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        translate_error: ErrorTranslator | None = None,
    ) -> None:
        """:param client: a storage client (see :func:`platform_kit.storage.clients.gcs_client`).
        :param chunk_size: bytes per resumable-upload request; a multiple of 256 KiB.
        :param translate_error: see :class:`~platform_kit.storage.base.ObjectStore`."""
        super().__init__(bucket, translate_error=translate_error)
        self.client = client
        self.chunk_size = chunk_size
        self._bucket = client.bucket(bucket)

    def _open_writer(self, key: str, *, expected_size: int | None, if_absent: bool) -> GCSWriter:
        # Resumable uploads have no part limit, so the expected size does not matter here.
        return GCSWriter(self._bucket.blob(key), self.chunk_size, if_absent=if_absent)

    def _put_bytes(self, key: str, data: bytes, *, if_absent: bool, if_version: str | None) -> ObjectInfo:
        # One request, atomic: small objects do not need a resumable session.
        conditions = {}
        if if_absent:
            conditions["if_generation_match"] = 0
        elif if_version is not None:
            conditions["if_generation_match"] = int(if_version)
        blob = self._bucket.blob(key)
        with _conflicts_as_errors(self.root.url_for(key), create=if_absent):
            blob.upload_from_string(data, content_type="application/octet-stream", **_calls(), **conditions)
        version = str(blob.generation) if blob.generation is not None else None
        return ObjectInfo(key, len(data), sha256=hashlib.sha256(data).hexdigest(), version=version)

    def _open_reader(self, key: str) -> BinaryIO:
        return self._bucket.blob(key).open("rb", chunk_size=8 * MiB, **_calls())

    def _read_versioned(self, key: str) -> tuple[bytes, str | None]:
        blob = self._bucket.get_blob(key, **_calls())
        if blob is None:
            raise StorageError(f"{self.root.url_for(key)} does not exist")
        # Download exactly the generation we saw, so bytes and version belong together.
        data = blob.download_as_bytes(if_generation_match=blob.generation, **_calls())
        return data, str(blob.generation) if blob.generation is not None else None

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        # list_blobs follows page tokens itself, one page at a time.
        for blob in self.client.list_blobs(
            self.bucket, prefix=prefix or None, fields=_LIST_FIELDS, **_calls()
        ):
            yield ObjectInfo(blob.name, int(blob.size or 0), blob.updated)

    def _head(self, key: str) -> ObjectInfo | None:
        blob = self._bucket.get_blob(key, **_calls())
        if blob is None:
            return None
        version = str(blob.generation) if blob.generation is not None else None
        return ObjectInfo(key, int(blob.size or 0), blob.updated, version=version)

    def _delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self._bucket.blob(key).delete(**_calls())

    def _check_bucket(self) -> None:
        # Refusals and unreachable endpoints become one-line StorageErrors in translate_error.
        if self.client.lookup_bucket(self.bucket, **_calls()) is None:
            raise StorageError(f"GCS bucket {self.bucket!r} does not exist; create it or fix the URL")

    def _delete_many(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        # raise_exception=False keeps one response per call (the library's Batch._responses) instead of
        # raising the last error and hiding which keys failed.
        batch = self.client.batch(raise_exception=False)
        with batch:
            for key in keys:
                self._bucket.delete_blob(key)
        responses = batch._responses
        if len(responses) != len(keys):
            raise StorageError(f"GCS batch delete answered {len(responses)} of {len(keys)} calls")
        failures = []
        for key, response in zip(keys, responses, strict=True):
            status = response.status_code
            if 200 <= status < 300 or status == 404:  # 404: already gone, as delete() treats it
                continue
            failures.append((key, f"HTTP {status} {_error_message(response)}".strip()))
        return failures

    def _versioning_enabled(self) -> bool:
        return bool(self.client.get_bucket(self.bucket, **_calls()).versioning_enabled)

    def _get_lifecycle(self) -> dict:
        try:
            bucket = self.client.get_bucket(self.bucket, **_calls())
        except Exception as exc:
            raise StorageError(
                f"cannot read the lifecycle rules of GCS bucket {self.bucket!r} ({one_line(exc)}); grant "
                "storage.buckets.get to the google connection's service account"
            ) from exc
        return {"rule": [dict(rule) for rule in bucket.lifecycle_rules]}

    def _put_lifecycle(self, config: dict) -> None:
        try:
            bucket = self.client.get_bucket(self.bucket, **_calls())
            bucket.lifecycle_rules = list(config.get("rule", []))
            bucket.patch(**_calls())
        except Exception as exc:
            raise StorageError(
                f"cannot set the lifecycle rules of GCS bucket {self.bucket!r} ({one_line(exc)}); grant "
                "storage.buckets.update to the google connection's service account"
            ) from exc


def _error_message(response: Any) -> str:
    """The ``error.message`` of a JSON-API error body, or nothing."""
    try:
        return str(response.json()["error"]["message"])
    except Exception:
        return ""

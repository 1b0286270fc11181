"""Google Cloud Storage store: resumable streaming uploads that are cancelled on any error."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from platform_kit.exceptions import StorageError
from platform_kit.storage.base import ErrorTranslator, MiB, ObjectInfo, ObjectStore, ObjectWriter
from platform_kit.utils import one_line

log = logging.getLogger(__name__)

CHUNK_QUANTUM = 256 * 1024
DEFAULT_CHUNK_SIZE = 16 * MiB
#: Calls per JSON-API batch request (GCS's documented limit).
MAX_BATCH_CALLS = 100
#: Listing asks only for what ObjectInfo holds: a smaller answer per page of 1,000 objects.
_LIST_FIELDS = "items(name,size,updated),nextPageToken"


class GCSWriter(ObjectWriter):
    """Wraps ``blob.open("wb")`` (a resumable upload). GCS only creates the object when the final chunk
    arrives, so cancelling the session before that leaves nothing behind."""

    def __init__(self, blob: Any, chunk_size: int) -> None:
        super().__init__(blob.name)
        if chunk_size <= 0 or chunk_size % CHUNK_QUANTUM:
            raise ValueError(f"GCS chunk_size must be a positive multiple of 256 KiB, got {chunk_size}")
        # ignore_flush: we never flush, but io wrappers may; a flush must not finalize the object.
        self._writer = blob.open("wb", chunk_size=chunk_size, ignore_flush=True)

    def _write(self, data: bytes) -> None:
        self._writer.write(data)

    def _commit(self) -> None:
        self._writer.close()

    def _abort(self) -> None:
        try:
            self._writer.terminate()
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

    def _open_writer(self, key: str, *, expected_size: int | None) -> GCSWriter:
        # Resumable uploads have no part limit, so the expected size does not matter here.
        return GCSWriter(self._bucket.blob(key), self.chunk_size)

    def _put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        # One request, atomic: small objects do not need a resumable session.
        import hashlib

        self._bucket.blob(key).upload_from_string(data, content_type="application/octet-stream")
        return ObjectInfo(key, len(data), sha256=hashlib.sha256(data).hexdigest())

    def _open_reader(self, key: str) -> BinaryIO:
        return self._bucket.blob(key).open("rb", chunk_size=8 * MiB)

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        # list_blobs follows page tokens itself, one page at a time.
        for blob in self.client.list_blobs(self.bucket, prefix=prefix or None, fields=_LIST_FIELDS):
            yield ObjectInfo(blob.name, int(blob.size or 0), blob.updated)

    def _head(self, key: str) -> ObjectInfo | None:
        blob = self._bucket.get_blob(key)
        if blob is None:
            return None
        return ObjectInfo(key, int(blob.size or 0), blob.updated)

    def _delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self._bucket.blob(key).delete()

    def _check_bucket(self) -> None:
        # Refusals and unreachable endpoints become one-line StorageErrors in translate_error.
        if self.client.lookup_bucket(self.bucket) is None:
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
        return bool(self.client.get_bucket(self.bucket).versioning_enabled)

    def _get_lifecycle(self) -> dict:
        try:
            bucket = self.client.get_bucket(self.bucket)
        except Exception as exc:
            raise StorageError(
                f"cannot read the lifecycle rules of GCS bucket {self.bucket!r} ({one_line(exc)}); grant "
                "storage.buckets.get to the google connection's service account"
            ) from exc
        return {"rule": [dict(rule) for rule in bucket.lifecycle_rules]}

    def _put_lifecycle(self, config: dict) -> None:
        try:
            bucket = self.client.get_bucket(self.bucket)
            bucket.lifecycle_rules = list(config.get("rule", []))
            bucket.patch()
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

"""Google Cloud Storage store: resumable streaming uploads that are cancelled on any error."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, BinaryIO

from platform_kit.exceptions import StorageError
from platform_kit.storage.base import ErrorTranslator, MiB, ObjectInfo, ObjectStore, ObjectWriter

log = logging.getLogger(__name__)

CHUNK_QUANTUM = 256 * 1024
DEFAULT_CHUNK_SIZE = 16 * MiB


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
        # list_blobs follows page tokens itself.
        for blob in self.client.list_blobs(self.bucket, prefix=prefix or None):
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

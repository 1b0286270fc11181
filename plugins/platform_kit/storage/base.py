"""What every object store offers, independent of S3 or GCS.

A store is bound to one bucket. Keys are full object keys in that bucket (build them with
:meth:`platform_kit.storage.url.StorageURL.key`). Writers hash as they go, so the SHA-256 and size of an
object are known the moment it is committed without reading it back.

Writes can be conditional, so two runs never overwrite each other's objects:

* ``if_absent=True`` creates the object only if no object has that key (S3 ``If-None-Match: *``,
  GCS ``ifGenerationMatch=0``);
* ``if_version=v`` replaces the object only if it is still the version read earlier (S3 ``If-Match``
  with the ETag, GCS ``ifGenerationMatch`` with the generation); a deleted object fails too.

A lost condition raises :class:`~platform_kit.exceptions.StorageConflictError` and nothing is written.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import BinaryIO, Protocol

from platform_kit.defaults import STORAGE_ABORT_WAIT_SECONDS
from platform_kit.exceptions import PlatformKitError, StorageError
from platform_kit.storage.url import StorageURL
from platform_kit.utils import one_line

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: Read size used when copying streams; big enough to keep syscalls cheap, small enough for RSS.
COPY_CHUNK = 1 * MiB


@dataclass(frozen=True)
class ObjectInfo:
    """An object in a bucket. ``sha256`` is set only by writers (computed in-stream); ``version`` (S3 ETag,
    GCS generation) by :meth:`ObjectStore.head` and :meth:`ObjectStore.read_versioned`."""

    key: str
    size: int
    updated: datetime | None = None
    sha256: str | None = None
    version: str | None = None


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


#: ``(exception) -> StorageError | None``: the one-line error for an SDK failure, ``None`` if unknown.
ErrorTranslator = Callable[[BaseException], "StorageError | None"]


def _no_translation(exc: BaseException) -> StorageError | None:
    return None


@contextmanager
def translated_errors(translate: ErrorTranslator) -> Iterator[None]:
    """Re-raise an SDK exception as the :class:`StorageError` ``translate`` makes of it (when it knows it).

    Expected failures (no credentials, an unreachable endpoint, a missing bucket, access denied) then
    reach the user as one line naming the fix; anything ``translate`` does not know keeps its traceback.
    """
    try:
        yield
    except PlatformKitError:
        raise
    except Exception as exc:
        error = translate(exc)
        if error is None:
            raise
        raise error from exc


class _TranslatedReader:
    """A reader over an SDK's stream whose errors (e.g. a lazy first request on GCS) are translated like the
    store's; ``read`` never loads more than asked for, and ``read()``/``read(-1)`` reads to the end."""

    def __init__(self, reader: BinaryIO, translate: ErrorTranslator) -> None:
        self._reader = reader
        self._translate = translate

    def read(self, size: int = -1) -> bytes:
        with translated_errors(self._translate):
            return self._reader.read() if size is None or size < 0 else self._reader.read(size)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> _TranslatedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObjectWriter(ABC):
    """A streaming upload of one object. Nothing is visible in the bucket until :meth:`commit`.

    Use it as a context manager: a clean exit commits, an exception aborts (the partial upload is
    discarded) and propagates. :attr:`size` and :attr:`sha256` grow as bytes are written.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.size = 0
        self._hash = hashlib.sha256()
        self._state = "open"
        #: Set by :meth:`ObjectStore.open_writer`: turns an SDK error into a one-line StorageError.
        self.translate_error: ErrorTranslator = _no_translation

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes) -> int:
        """Append ``data``; may block while a previous chunk is being uploaded."""
        if self._state != "open":
            raise ValueError(f"writer for {self.key} is {self._state}")
        if not data:
            return 0
        self._hash.update(data)
        self.size += len(data)
        with translated_errors(self.translate_error):
            self._write(bytes(data) if isinstance(data, memoryview) else data)
        return len(data)

    def commit(self) -> ObjectInfo:
        """Finish the upload and make the object visible; aborts and re-raises if that fails."""
        if self._state != "open":
            raise ValueError(f"writer for {self.key} is {self._state}")
        try:
            with translated_errors(self.translate_error):
                self._commit()
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        return ObjectInfo(self.key, self.size, sha256=self.sha256)

    def abort(self) -> bool:
        """Discard everything written so far. Safe to call more than once; never raises.

        The endpoint gets :data:`~platform_kit.defaults.STORAGE_ABORT_WAIT_SECONDS` to confirm: the abort
        runs in a daemon thread, so an endpoint that stopped answering (often the reason we abort) cannot
        hold up the error, a SIGTERM cleanup or the process exit.

        :returns: whether the endpoint confirmed the abort (nothing was committed either way).
        """
        if self._state != "open":
            return self._state == "aborted"
        self._state = "aborted"
        failure: list[BaseException] = []
        done = threading.Event()

        def run() -> None:
            try:
                self._abort()
            except Exception as exc:
                failure.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, name=f"abort-{self.key}", daemon=True).start()
        if not done.wait(STORAGE_ABORT_WAIT_SECONDS):
            failure.append(TimeoutError(f"no answer within {STORAGE_ABORT_WAIT_SECONDS} s"))
        if failure:
            # The endpoint may be the thing that failed; a lifecycle rule cleans up what we could not.
            log.warning(
                "could not abort the upload of %s (%s); nothing was committed, the bucket's "
                "AbortIncompleteMultipartUpload rule removes what is left",
                self.key,
                one_line(failure[0]),
            )
            self._state = "abandoned"
            return False
        return True

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    @abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...


class ObjectStore(ABC):
    """One bucket on S3 or GCS. Build one with :func:`platform_kit.storage.open_store`.

    Subclasses implement the underscored methods with their SDK; the public ones here add the error
    translation, so every expected SDK failure reaches the caller as a one-line :class:`StorageError`.
    """

    scheme: str
    #: The most keys :meth:`delete_many` takes in one request (S3 DeleteObjects: 1,000; GCS batch: 100).
    max_delete_batch: int

    def __init__(self, bucket: str, *, translate_error: ErrorTranslator | None = None) -> None:
        """:param bucket: the bucket name.
        :param translate_error: turns SDK exceptions into :class:`StorageError` (see
            :mod:`platform_kit.storage.clients`); unknown exceptions propagate unchanged."""
        self.bucket = bucket
        self.translate_error: ErrorTranslator = translate_error or _no_translation

    @property
    def root(self) -> StorageURL:
        return StorageURL(self.scheme, self.bucket)

    def open_writer(
        self, key: str, *, expected_size: int | None = None, if_absent: bool = False
    ) -> ObjectWriter:
        """Start a streaming upload of ``key``.

        :param expected_size: a generous estimate of the final size in bytes (e.g. the database size);
            S3 uses it to choose a part size that stays within 10,000 parts. Unknown is fine.
        :param if_absent: commit only if no object ``key`` exists by then; otherwise the upload is
            discarded and :class:`StorageConflictError` raised.
        """
        with translated_errors(self.translate_error):
            writer = self._open_writer(key, expected_size=expected_size, if_absent=if_absent)
        writer.translate_error = self.translate_error
        return writer

    def put_bytes(
        self, key: str, data: bytes, *, if_absent: bool = False, if_version: str | None = None
    ) -> ObjectInfo:
        """Upload a small object (a manifest, an export) in one request.

        :param if_absent: create only, never replace (see the module docstring).
        :param if_version: replace only this version of the object (from :meth:`head` or
            :meth:`read_versioned`).
        :raises StorageConflictError: the condition did not hold; nothing was written.
        """
        with translated_errors(self.translate_error):
            return self._put_bytes(key, data, if_absent=if_absent, if_version=if_version)

    def read_versioned(self, key: str) -> tuple[bytes, str | None]:
        """A small object's bytes and the version they belong to (for a later ``if_version`` write).

        :raises StorageError: the object does not exist.
        """
        with translated_errors(self.translate_error):
            return self._read_versioned(key)

    def open_reader(self, key: str) -> BinaryIO:
        """A file-like object streaming ``key`` (``read(n)``, ``close()``); nothing is held in memory."""
        with translated_errors(self.translate_error):
            reader = self._open_reader(key)
        return _TranslatedReader(reader, self.translate_error)  # type: ignore[return-value]

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order, with its size and last-modified time.

        Streams: one listing page (up to 1,000 objects) is held at a time, however many objects match.
        """
        with translated_errors(self.translate_error):
            yield from self._list(prefix)

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size, time and version, or ``None`` if it does not exist."""
        with translated_errors(self.translate_error):
            return self._head(key)

    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""
        with translated_errors(self.translate_error):
            self._delete(key)

    def delete_many(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        """Delete up to :attr:`max_delete_batch` keys in one request.

        :param keys: object keys in this bucket; a missing key counts as deleted.
        :returns: ``(key, reason)`` for every key the service refused to delete; the others are gone.
        :raises Exception: the request as a whole failed (after the client's own retries; a
            :class:`StorageError` when the failure is a known one); nothing is known about the keys.
        """
        if not keys:
            return []
        if len(keys) > self.max_delete_batch:
            raise ValueError(
                f"{self.scheme} batch deletes take at most {self.max_delete_batch} keys, got {len(keys)}"
            )
        with translated_errors(self.translate_error):
            return self._delete_many(keys)

    def versioning_enabled(self) -> bool | None:
        """Whether the bucket keeps old versions of deleted objects (``None``: not allowed to ask)."""
        try:
            return self._versioning_enabled()
        except Exception:
            return None

    def get_lifecycle(self) -> dict:
        """The bucket's lifecycle configuration in the service's own format (empty rules when none).

        S3: ``{"Rules": [...]}`` as ``GetBucketLifecycleConfiguration`` returns it; GCS: ``{"rule": [...]}``
        as the JSON API's ``lifecycle`` field.
        """
        with translated_errors(self.translate_error):
            return self._get_lifecycle()

    def put_lifecycle(self, config: dict) -> None:
        """Replace the bucket's lifecycle configuration with ``config`` (as :meth:`get_lifecycle` returns)."""
        with translated_errors(self.translate_error):
            self._put_lifecycle(config)

    def check_bucket(self) -> None:
        """Raise :class:`StorageError` unless the bucket exists and these credentials can reach it."""
        with translated_errors(self.translate_error):
            self._check_bucket()

    @abstractmethod
    def _open_writer(self, key: str, *, expected_size: int | None, if_absent: bool) -> ObjectWriter: ...

    @abstractmethod
    def _put_bytes(self, key: str, data: bytes, *, if_absent: bool, if_version: str | None) -> ObjectInfo: ...

    @abstractmethod
    def _read_versioned(self, key: str) -> tuple[bytes, str | None]: ...

    @abstractmethod
    def _open_reader(self, key: str) -> BinaryIO: ...

    @abstractmethod
    def _list(self, prefix: str) -> Iterator[ObjectInfo]: ...

    @abstractmethod
    def _head(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def _delete(self, key: str) -> None: ...

    @abstractmethod
    def _check_bucket(self) -> None: ...

    @abstractmethod
    def _delete_many(self, keys: Sequence[str]) -> list[tuple[str, str]]: ...

    @abstractmethod
    def _versioning_enabled(self) -> bool: ...

    @abstractmethod
    def _get_lifecycle(self) -> dict: ...

    @abstractmethod
    def _put_lifecycle(self, config: dict) -> None: ...

    def get_bytes(self, key: str) -> bytes:
        """Download a small object into memory."""
        with self.open_reader(key) as reader:
            return reader.read()

    def upload_stream(
        self, key: str, source: Readable, *, expected_size: int | None = None, if_absent: bool = False
    ) -> ObjectInfo:
        """Copy ``source`` to ``key`` until EOF; abort the upload if reading or writing raises.

        ``source.read`` raising (e.g. a producer process that failed) is what keeps a truncated
        stream from ever becoming an object. ``if_absent`` as in :meth:`open_writer`.
        """
        with self.open_writer(key, expected_size=expected_size, if_absent=if_absent) as writer:
            while chunk := source.read(COPY_CHUNK):
                writer.write(chunk)
        return ObjectInfo(key, writer.size, sha256=writer.sha256)

    def check_writable(self, prefix: str) -> None:
        """Raise :class:`StorageError` unless an object can be written and deleted under ``prefix``."""
        import uuid

        self.check_bucket()
        probe = "/".join(p for p in (prefix, f".platform-kit-probe-{uuid.uuid4().hex}") if p)
        try:
            self.put_bytes(probe, b"probe")
            self.delete(probe)
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(
                f"cannot write to {self.root.url_for(prefix)} ({one_line(exc)}); grant write and delete "
                "on that prefix to the connection's identity"
            ) from exc

    def sha256_of(self, key: str) -> tuple[str, int]:
        """Stream ``key`` back and return its SHA-256 and size."""
        digest = hashlib.sha256()
        size = 0
        with self.open_reader(key) as reader:
            while chunk := reader.read(COPY_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

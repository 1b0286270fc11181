"""One cleanup per log root at a time, with a lock that cannot go stale and leaves no trace.

``flock`` locks belong to the open file description: the kernel drops them when the process exits,
however it dies (SIGKILL, OOM, task timeout). The lock file lives in the root (so runs on different hosts
or containers sharing the log volume exclude each other) and is removed when the run ends, while still
locked. That is safe because a process that opened the old file and locks it after the removal sees
that its descriptor is no longer the file at that path, and starts over. A run killed with SIGKILL leaves
the empty file behind; the next run takes it over and removes it.

A dry run changes nothing on disk: it never creates the file. It takes a shared lock on one that exists
(so it waits for no one but refuses to report while a real run deletes), and otherwise runs without.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator

from platform_kit.exceptions import LockBusyError

LOCK_FILE_NAME = ".platform-kit-log-cleanup.lock"
_ATTEMPTS = 5  # another run removing the file between our open and our flock is rare; twice is rarer


@contextlib.contextmanager
def root_lock(root: str, *, required: bool = True) -> Iterator[bool]:
    """Hold an exclusive, non-blocking ``flock`` on ``<root>/.platform-kit-log-cleanup.lock``.

    :param root: the (already validated, real) log root.
    :param required: ``False`` for dry runs: nothing is created; a shared lock is taken on an existing
        lock file, and a root without one is scanned unlocked. A lock held by a real run still fails.
    :raises LockBusyError: another process holds the lock; fails at once instead of waiting or
        silently skipping.
    :return: context yielding whether a lock is held.
    """
    path = os.path.join(root, LOCK_FILE_NAME)  # noqa: PTH118 - plain str paths for os.open flags below
    if not required:
        with _shared_if_present(path, root) as held:
            yield held
        return
    fd = _lock_exclusively(path, root)
    try:
        _write_holder(fd)
        yield True
    finally:
        # Still holding the lock: nobody else can be holding this file, so removing it is safe.
        with contextlib.suppress(OSError):
            os.unlink(path)  # noqa: PTH108 - str paths throughout, as for os.open
        os.close(fd)


def _lock_exclusively(path: str, root: str) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_ATTEMPTS):
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LockBusyError(f"lock file {path} is a symlink; remove it and run again") from exc
            raise LockBusyError(f"cannot create lock file {path} ({exc.strerror}); fix permissions") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise _busy(root, holder) from None
        if _still_at(fd, path):
            return fd
        os.close(fd)  # the previous holder removed it after we opened it: lock the current file instead
    raise LockBusyError(f"the lock file {path} keeps being replaced; is another cleanup starting in a loop?")


@contextlib.contextmanager
def _shared_if_present(path: str, root: str) -> Iterator[bool]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        yield False
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockBusyError(f"lock file {path} is a symlink; remove it and run again") from exc
        yield False  # unreadable: a dry run reads, it does not need to exclude anyone
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(root, _read_holder(fd)) from None
        yield True
    finally:
        os.close(fd)


def _still_at(fd: int, path: str) -> bool:
    """Whether ``fd`` is (still) the file at ``path``."""
    mine = os.fstat(fd)
    try:
        current = os.lstat(path)
    except FileNotFoundError:
        return False
    return (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino)


def _busy(root: str, holder: str) -> LockBusyError:
    return LockBusyError(
        f"another log cleanup{holder} is running on {root}; wait for it to finish"
        " (the lock is released automatically when that process exits)"
    )


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


def _write_holder(fd: int) -> None:
    # Only informative (for the "busy" message); the flock is what protects.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)

"""One cleanup per log root at a time, with a lock that cannot go stale.

``flock`` locks belong to the open file description: the kernel drops them when the process exits,
however it dies (SIGKILL, OOM, task timeout). The lock file itself stays in place and is never deleted,
because deleting it would let two processes lock two different inodes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator

from platform_kit.exceptions import LockBusyError

LOCK_FILE_NAME = ".platform-kit-log-cleanup.lock"


@contextlib.contextmanager
def root_lock(root: str, *, required: bool = True) -> Iterator[bool]:
    """Hold an exclusive, non-blocking ``flock`` on ``<root>/.platform-kit-log-cleanup.lock``.

    :param root: the (already validated, real) log root.
    :param required: when ``False`` (dry runs), a root where the lock file cannot be created (read-only
        filesystem) is scanned without the lock; a lock held by someone else still fails.
    :raises LockBusyError: another process holds the lock; fails at once instead of waiting or
        silently skipping.
    :return: context yielding whether the lock is held.
    """
    path = os.path.join(root, LOCK_FILE_NAME)  # noqa: PTH118 - plain str paths for os.open flags below
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockBusyError(f"lock file {path} is a symlink; remove it and run again") from exc
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            if required:
                raise LockBusyError(
                    f"cannot create lock file {path} ({exc.strerror}); fix permissions"
                ) from exc
            yield False
            return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise LockBusyError(
                f"another log cleanup{holder} is running on {root}; wait for it to finish"
                " (the lock is released automatically when that process exits)"
            ) from None
        _write_holder(fd)
        yield True
    finally:
        os.close(fd)


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

"""Walk Airflow log roots and delete what the policy says, safely and at ``find`` speed.

How it stays safe:

* Every directory is opened relative to its parent's file descriptor with ``O_NOFOLLOW``, and files are
  stat'ed and unlinked relative to that descriptor. Symlinks are never followed (not even if a directory
  is swapped for a link mid-run), so nothing outside the root can be reached. Other filesystems and bind
  mounts inside the root are not entered (a bind mount keeps the device number, so mount points come
  from ``/proc/self/mountinfo``).
* Only regular files named ``*.log`` are deleted (this covers ``attempt=N.log.trigger.<id>.log``).
  Symlinks are never deleted, so ``dag_processor/latest`` survives, and the directory it points at is
  never removed, so it cannot dangle because of us.
* Files modified in the last ``min_age_minutes`` are never deleted; an ``attempt=N.log`` is kept while one
  of its trigger logs is kept (a deferred task writes only to the trigger log).
* Empty directories are removed bottom-up, but only those whose modification time (before this run)
  is older than the guard, so a task that just created its log folder does not lose it.
* Unreadable directories, permission errors and files that vanish are reported and the walk goes on.

How it stays fast and small: one streaming pass with ``os.scandir`` on directory descriptors (no path
resolution per file, no Path objects, no per-file lists), so memory does not grow with the number of
files. The size cap needs age ordering; instead of sorting every file it first scans into an hourly
histogram of evictable bytes (then per minute inside the boundary hour) and deletes in the one
destructive pass below the resulting cutoff time.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import time
from collections.abc import Callable

from platform_kit.exceptions import UnsafeRootError
from platform_kit.logcleanup.lock import LOCK_FILE_NAME, root_lock
from platform_kit.logcleanup.policy import (
    DAG_PROCESSOR_DIR_NAMES,
    HOUR,
    MINUTE,
    Cutoffs,
    RetentionPolicy,
    Tree,
    attempt_of_trigger_log,
    is_attempt_log,
)
from platform_kit.logcleanup.report import CleanupReport, volume_usage
from platform_kit.logcleanup.roots import is_within, mount_points_under, validate_root
from platform_kit.utils import human_and_exact

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Frame:
    __slots__ = (
        "busy",
        "ctx",
        "deferred",
        "depth",
        "fd",
        "it",
        "name",
        "old_enough",
        "path",
        "protected",
        "remaining",
    )

    def __init__(self, fd: int, ctx: Tree, path: str, name: str | None, depth: int) -> None:
        self.fd = fd
        self.it = os.scandir(fd)
        self.ctx = ctx
        self.path = path
        self.name = name
        self.depth = depth
        self.remaining = 0
        self.old_enough = False
        self.protected = False
        self.deferred: list[tuple[str, float, int]] | None = None
        self.busy: set[str] | None = None


class _Walker:
    """Walks one or more roots with one decision rule; see :func:`clean_logs` for the passes."""

    def __init__(self, policy: RetentionPolicy, now: float, report: CleanupReport) -> None:
        self.policy = policy
        self.now = now
        self.report = report
        self.cutoffs = Cutoffs(policy, now)
        self.guard_cutoff = self.cutoffs.guard
        self.floor_cutoff = now - policy.size_floor_seconds
        self.protected: set[tuple[int, int]] = set()
        self.dag_processor_inodes: set[tuple[int, int]] = set()
        self.mount_inodes: set[tuple[int, int]] = set()
        self.default_ctx = self.cutoffs.default
        self.dag_processor_ctx = self.cutoffs.dag_processor
        self.callbacks_ctx = self.cutoffs.callbacks

    def _child_ctx(self, parent: _Frame, name: str, ident: tuple[int, int]) -> Tree:
        if ident in self.dag_processor_inodes:
            return self.dag_processor_ctx
        if parent.depth == 0 and parent.ctx is self.default_ctx:
            # Anything else at the top of a validated base folder keeps the default retention.
            return self.cutoffs.top_level(name) or parent.ctx
        if parent.ctx is self.callbacks_ctx and parent.depth == 1:
            return self.cutoffs.callbacks_of(name)
        return parent.ctx

    def protect_latest_links(self, real_root: str, dirs: list[str]) -> None:
        """Keep the directory each ``latest`` symlink points at, so the link never dangles because of us."""
        for directory in dirs:
            link = os.path.join(directory, "latest")  # noqa: PTH118
            try:
                if not stat.S_ISLNK(os.lstat(link).st_mode):
                    continue
                target = os.path.realpath(link)
                if not is_within(target, real_root):
                    continue
                info = os.stat(target)  # noqa: PTH116 - follows the link on purpose, target is inside root
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                self.protected.add((info.st_dev, info.st_ino))

    def walk(
        self,
        root: str,
        root_ctx: Tree,
        *,
        delete: bool,
        remove_dirs: bool,
        cap_cutoff: float | None = None,
        keep_hook: Callable[[float, int], None] | None = None,
    ) -> None:
        """One pass over ``root``.

        :param delete: really unlink / rmdir; ``False`` counts what would happen (dry run, scans).
        :param remove_dirs: remove (or count) directories emptied by this pass.
        :param cap_cutoff: additionally delete log files with mtime below this (size cap).
        :param keep_hook: called with ``(mtime, size)`` for every regular file that is kept; non-log
            files are passed with an infinite mtime so they count toward usage but are never evictable.
        """
        report = self.report
        guard_cutoff = self.guard_cutoff
        measure_all = keep_hook is not None
        unlink = os.unlink
        root_fd = os.open(root, _DIR_FLAGS)
        root_dev = os.fstat(root_fd).st_dev
        stack = [_Frame(root_fd, root_ctx, root, None, 0)]
        try:
            while stack:
                frame = stack[-1]
                fd = frame.fd
                cutoff = frame.ctx.cutoff
                any_files = frame.ctx.any_files
                # Hot loop: counters stay in locals and are flushed once per directory visit.
                deleted = freed = kept = logs_kept = recent = kept_bytes = 0
                descended = False
                for entry in frame.it:
                    name = entry.name
                    try:
                        if entry.is_file(follow_symlinks=False):
                            if not (name.endswith(".log") or any_files):
                                kept += 1
                                if name != LOCK_FILE_NAME or frame.depth:  # our own lock is no news
                                    report.skipped_other_files += 1
                                    if measure_all:
                                        keep_hook(math.inf, entry.stat(follow_symlinks=False).st_size)
                                continue
                            info = entry.stat(follow_symlinks=False)
                        elif entry.is_dir(follow_symlinks=False):
                            child = self._open_child(frame, name, root_dev)
                            if child is not None:
                                stack.append(child)
                                descended = True
                                break
                            continue
                        else:
                            kept += 1
                            if entry.is_symlink():
                                report.skipped_symlinks += 1
                            else:
                                report.skipped_other_files += 1  # fifo, socket, device
                            continue
                    except FileNotFoundError:
                        report.vanished += 1
                        continue
                    except OSError as exc:
                        report.add_error(f"cannot inspect {frame.path}/{name!r}: {exc.strerror}")
                        kept += 1
                        continue
                    mtime = info.st_mtime
                    if mtime < cutoff or (cap_cutoff is not None and mtime < cap_cutoff):
                        if info.st_nlink > 1:
                            # Also reachable from elsewhere (maybe outside the root): not ours to judge.
                            report.skipped_hardlinks += 1
                            kept += 1
                            continue
                        if is_attempt_log(name):
                            # Decided at the end of the directory, once its trigger logs were seen.
                            if frame.deferred is None:
                                frame.deferred = []
                            frame.deferred.append((name, mtime, info.st_size))
                            continue
                        if delete:
                            try:
                                unlink(name, dir_fd=fd)
                            except OSError as exc:
                                kept += self._unlink_failed(frame, name, exc)
                                continue
                        deleted += 1
                        freed += info.st_size
                        continue
                    kept += 1
                    logs_kept += 1
                    kept_bytes += info.st_size
                    if mtime >= guard_cutoff:
                        recent += 1
                    attempt = attempt_of_trigger_log(name)
                    if attempt is not None:
                        if frame.busy is None:
                            frame.busy = set()
                        frame.busy.add(attempt)
                    if keep_hook is not None:
                        keep_hook(mtime, info.st_size)
                frame.remaining += kept
                if logs_kept:
                    report.skipped_recent += recent
                    report.files_kept += logs_kept - recent
                    report.add_kept(frame.ctx.key, kept_bytes)
                if deleted:
                    report.files_deleted += deleted
                    report.bytes_deleted += freed
                    report.add_freed(frame.ctx.key, deleted, freed)
                if descended:
                    continue
                stack.pop()
                self._finish(frame, stack[-1] if stack else None, delete, remove_dirs, keep_hook)
        finally:
            for frame in stack:
                frame.it.close()
                if frame.fd != root_fd:
                    os.close(frame.fd)
            os.close(root_fd)

    def _open_child(self, parent: _Frame, name: str, root_dev: int) -> _Frame | None:
        report = self.report
        if parent.depth == 0 and name == "lost+found":
            parent.remaining += 1
            return None
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent.fd)
        except FileNotFoundError:
            report.vanished += 1
            return None
        except OSError as exc:
            parent.remaining += 1
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link or file after readdir
                report.skipped_symlinks += 1
            else:
                report.add_error(f"cannot open directory {parent.path}/{name!r}: {exc.strerror}")
            return None
        try:
            info = os.fstat(fd)
            ident = (info.st_dev, info.st_ino)
            if info.st_dev != root_dev or ident in self.mount_inodes:
                report.skipped_mounts += 1
                parent.remaining += 1
                os.close(fd)
                return None
            frame = _Frame(
                fd, self._child_ctx(parent, name, ident), f"{parent.path}/{name}", name, parent.depth + 1
            )
        except OSError as exc:
            os.close(fd)
            parent.remaining += 1
            report.add_error(f"cannot read directory {parent.path}/{name!r}: {exc.strerror}")
            return None
        frame.old_enough = info.st_mtime < self.guard_cutoff
        frame.protected = ident in self.protected
        return frame

    def _unlink_failed(self, frame: _Frame, name: str, exc: OSError) -> int:
        """Record a failed unlink; returns 1 when the file is still there (the folder is not empty)."""
        if isinstance(exc, FileNotFoundError):
            self.report.vanished += 1
            return 0
        self.report.add_error(f"cannot delete {frame.path}/{name!r}: {exc.strerror}")
        return 1

    def _finish(
        self,
        frame: _Frame,
        parent: _Frame | None,
        delete: bool,
        remove_dirs: bool,
        keep_hook: Callable[[float, int], None] | None,
    ) -> None:
        report = self.report
        frame.it.close()
        if frame.deferred:
            busy = frame.busy or ()
            deleted = freed = 0
            for name, mtime, size in frame.deferred:
                if name in busy:
                    report.files_kept += 1
                    report.add_kept(frame.ctx.key, size)
                    frame.remaining += 1
                    if keep_hook is not None:
                        keep_hook(mtime, size)
                    continue
                if delete:
                    try:
                        os.unlink(name, dir_fd=frame.fd)
                    except OSError as exc:
                        frame.remaining += self._unlink_failed(frame, name, exc)
                        continue
                deleted += 1
                freed += size
            if deleted:
                report.files_deleted += deleted
                report.bytes_deleted += freed
                report.add_freed(frame.ctx.key, deleted, freed)
        if parent is None:
            return  # the root itself is never removed; its descriptor is closed by walk()
        # Close before rmdir: removing a directory that is still open parks its inode on the
        # filesystem's orphan list (a journal write per directory, ~100x slower on ext4).
        os.close(frame.fd)
        if not (remove_dirs and frame.remaining == 0 and frame.old_enough and not frame.protected):
            parent.remaining += 1
            return
        if delete:
            try:
                os.rmdir(frame.name, dir_fd=parent.fd)
            except FileNotFoundError:
                report.vanished += 1
                return
            except OSError as exc:
                parent.remaining += 1
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):  # refilled meanwhile: fine
                    report.add_error(f"cannot remove directory {frame.path!r}: {exc.strerror}")
                return
        report.dirs_removed += 1


class _Histogram:
    """Bytes of evictable files per time bucket, plus total usage; O(buckets) memory."""

    def __init__(self, bucket: float, floor_cutoff: float, window: tuple[float, float] | None = None) -> None:
        self.bucket = bucket
        self.floor_cutoff = floor_cutoff
        self.window = window
        self.total = 0
        self.counts: dict[int, int] = {}

    def __call__(self, mtime: float, size: int) -> None:
        self.total += size
        if mtime < self.floor_cutoff and (self.window is None or self.window[0] <= mtime < self.window[1]):
            key = int(mtime // self.bucket)
            self.counts[key] = self.counts.get(key, 0) + size

    def boundary(self, needed: int) -> tuple[int | None, int]:
        """The bucket where cumulative evictable bytes reach ``needed``, and the bytes before it."""
        before = 0
        for key in sorted(self.counts):
            if before + self.counts[key] >= needed:
                return key, before
            before += self.counts[key]
        return None, before


def clean_logs(
    base_log_folder: str,
    policy: RetentionPolicy,
    *,
    dag_processor_folder: str | None = None,
    dry_run: bool = False,
    allow_any_layout: bool = False,
    now: float | None = None,
) -> CleanupReport:
    """Delete old Airflow log files under ``base_log_folder`` (and the dag-processor folder).

    :param base_log_folder: ``[logging] base_log_folder``. A folder that holds only dag-processor
        date directories is cleaned as a dag-processor folder.
    :param policy: what may be deleted.
    :param dag_processor_folder: ``[logging] dag_processor_child_process_log_directory``. Inside the
        base folder it just gets its own retention; elsewhere it is cleaned as a second root. Defaults to
        ``<base>/dag_processor``.
    :param dry_run: delete nothing; the report says exactly what a real run would delete.
    :param allow_any_layout: accept a root without Airflow's folder layout (still refuses ``/``,
        system and home directories).
    :param now: reference time (epoch seconds) for ages; tests pin it.
    :raises UnsafeRootError: the root must not be cleaned.
    :raises LockBusyError: another cleanup holds the lock on a root.
    """
    started = time.monotonic()
    now = time.time() if now is None else now
    base, kind = validate_root(base_log_folder, allow_any_layout=allow_any_layout)
    report = CleanupReport(roots=[base], dry_run=dry_run, policy=policy.describe())
    walker = _Walker(policy, now, report)

    roots: list[tuple[str, Tree]] = [
        (base, walker.dag_processor_ctx if kind == "dag_processor" else walker.default_ctx)
    ]
    latest_dirs = [base, *(os.path.join(base, name) for name in DAG_PROCESSOR_DIR_NAMES)]  # noqa: PTH118
    if dag_processor_folder:
        processor = os.path.realpath(dag_processor_folder)
        if os.path.isdir(processor):  # noqa: PTH112 - it may not exist yet on a fresh install
            latest_dirs.append(processor)
            if is_within(processor, base) and processor not in mount_points_under([base]):
                info = os.stat(processor)  # noqa: PTH116
                walker.dag_processor_inodes.add((info.st_dev, info.st_ino))
            elif processor != base and is_within(base, processor):
                raise UnsafeRootError(
                    f"the dag-processor log folder {processor} contains the base log folder {base}; "
                    "point them at separate folders"
                )
            else:
                processor, _ = validate_root(processor, allow_any_layout=allow_any_layout)
                roots.append((processor, walker.dag_processor_ctx))
                report.roots.append(processor)
    for real_root, _ in roots:
        walker.protect_latest_links(real_root, [d for d in latest_dirs if is_within(d, real_root)])
    for point in mount_points_under([real_root for real_root, _ in roots]):
        with contextlib.suppress(OSError):
            info = os.stat(point)  # noqa: PTH116 - a mount point path, resolved by the kernel
            walker.mount_inodes.add((info.st_dev, info.st_ino))

    with contextlib.ExitStack() as locks:
        for real_root, _ in roots:
            locks.enter_context(root_lock(real_root, required=not dry_run))
        cap_cutoff = None
        if policy.max_size is not None:
            cap_cutoff = _size_cap_cutoff(walker, roots, report, policy)
        for real_root, ctx in roots:
            walker.walk(real_root, ctx, delete=not dry_run, remove_dirs=True, cap_cutoff=cap_cutoff)
        cap = report.size_cap
        if cap is not None:
            cap["usage_after"] = cap["usage_before"] - report.bytes_deleted
            cap["over_cap_after"] = cap["usage_after"] > cap["cap_bytes"]
            if cap["over_cap_after"]:
                report.warnings.append(
                    f"still over the size cap after cleanup: {human_and_exact(cap['usage_after'])} used, "
                    f"cap {human_and_exact(cap['cap_bytes'])}; the rest is younger than the "
                    f"{policy.size_floor_hours:g} h floor or not a log file"
                )
    # After the cleanup, so the Platform page and the metrics show what the volume holds now.
    report.volume = volume_usage(base)
    report.duration_seconds = time.monotonic() - started
    return report


def _size_cap_cutoff(
    walker: _Walker, roots: list[tuple[str, Tree]], report: CleanupReport, policy: RetentionPolicy
) -> float | None:
    """Read-only scans that find the mtime below which the size cap evicts; ``None`` if under the cap."""
    assert policy.max_size is not None
    cap_bytes = policy.max_size.resolve(roots[0][0])
    scratch = CleanupReport(roots=[], dry_run=True, policy={})

    def scan(hook: _Histogram) -> None:
        walker.report = scratch
        try:
            for real_root, ctx in roots:
                walker.walk(real_root, ctx, delete=False, remove_dirs=False, keep_hook=hook)
        finally:
            walker.report = report

    hours = _Histogram(HOUR, walker.floor_cutoff)
    scan(hours)
    usage_before = hours.total + scratch.bytes_deleted
    report.size_cap = {
        "cap": policy.max_size.describe(),
        "cap_bytes": cap_bytes,
        "usage_before": usage_before,
        "usage_after_retention": hours.total,
    }
    excess = hours.total - cap_bytes
    if excess <= 0:
        return None
    hour, before = hours.boundary(excess)
    if hour is None:
        return walker.floor_cutoff  # evict everything the floor allows; the warning follows
    window = (hour * HOUR, (hour + 1) * HOUR)
    minutes = _Histogram(MINUTE, walker.floor_cutoff, window)
    scratch = CleanupReport(roots=[], dry_run=True, policy={})
    scan(minutes)
    minute, _ = minutes.boundary(excess - before)
    end = window[1] if minute is None else (minute + 1) * MINUTE
    return min(end, walker.floor_cutoff)

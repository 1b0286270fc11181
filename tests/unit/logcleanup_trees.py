"""Builders and snapshots of log trees for the log cleanup tests (no test functions here)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

NOW = 1_900_000_000.0  # pinned "now" (2030-03-17) so ages are exact
DAY = 86_400.0
HOUR = 3_600.0


def plant(root: Path, relative: str, age: float, size: int = 10, now: float = NOW) -> Path:
    """Create ``root/relative`` with ``size`` bytes, modified ``age`` seconds before ``now``."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age, now - age))
    return path


def age_dirs(root: Path, age: float, now: float = NOW) -> None:
    """Make every real directory under ``root`` (not the root, not through links) ``age`` seconds old."""
    for dirpath, dirnames, _ in os.walk(root, topdown=False):
        for name in dirnames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                os.utime(path, (now - age, now - age), follow_symlinks=False)


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything under ``root`` (links not followed): relative path -> (kind, size, mtime, link target)."""
    result: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            target = str(path.readlink()) if stat.S_ISLNK(info.st_mode) else None
            size = info.st_size if stat.S_ISREG(info.st_mode) else 0
            result[str(path.relative_to(root))] = (kind, size, info.st_mtime_ns, target)
    return result


def files(root: Path) -> set[str]:
    """Relative paths of the regular files and links under ``root`` (without the cleanup's lock file)."""
    return {
        path
        for path, (kind, *_rest) in snapshot(root).items()
        if not stat.S_ISDIR(kind) and path != ".platform-kit-log-cleanup.lock"
    }


def comparable(summary: dict) -> dict:
    """A summary without the fields that legitimately differ between two runs (the volume's use is
    measured after each run: the real one has freed space)."""
    skip = ("duration_seconds", "dry_run", "volume")
    return {key: value for key, value in summary.items() if key not in skip}

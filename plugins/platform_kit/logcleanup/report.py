"""What a cleanup run did (or, in a dry run, would do)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from platform_kit.utils import size_fields

MAX_ERROR_SAMPLES = 20
TOP_DAGS = 10

#: The byte counts of ``size_cap``, shown with a readable size next to them.
SIZE_CAP_BYTES = ("cap_bytes", "usage_before", "usage_after_retention", "usage_after")

DAG_PROCESSOR_KEY = "(dag-processor)"
OTHER_KEY = "(other)"
CALLBACKS_KEY = "(executor-callbacks)"


@dataclass
class CleanupReport:
    """Counters of one run. A dry run fills exactly the fields the real run would.

    ``files_deleted`` / ``bytes_deleted`` / ``dirs_removed`` mean "would be deleted" when ``dry_run``.
    """

    roots: list[str]
    dry_run: bool
    policy: dict[str, Any]
    #: the roots are bucket prefixes (``s3://``, ``gs://``): files are objects and there are no folders.
    remote: bool = False
    files_deleted: int = 0
    bytes_deleted: int = 0
    dirs_removed: int = 0
    files_kept: int = 0
    skipped_recent: int = 0
    skipped_symlinks: int = 0
    skipped_hardlinks: int = 0
    skipped_other_files: int = 0
    skipped_mounts: int = 0
    vanished: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bytes_by_dag: dict[str, int] = field(default_factory=dict)
    files_by_dag: dict[str, int] = field(default_factory=dict)
    kept_bytes_by_dag: dict[str, int] = field(default_factory=dict)
    size_cap: dict[str, Any] | None = None
    volume: dict[str, Any] | None = None
    duration_seconds: float = 0.0

    def add_error(self, message: str, count: int = 1) -> None:
        """Count ``count`` failures described by ``message`` (one sample, whatever the count)."""
        self.errors += count
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(message)

    def add_freed(self, key: str, files: int, size: int) -> None:
        self.bytes_by_dag[key] = self.bytes_by_dag.get(key, 0) + size
        self.files_by_dag[key] = self.files_by_dag.get(key, 0) + files

    def add_kept(self, key: str, size: int) -> None:
        self.kept_bytes_by_dag[key] = self.kept_bytes_by_dag.get(key, 0) + size

    def top_dags(self, limit: int = TOP_DAGS) -> list[dict[str, Any]]:
        """The DAGs (and the dag-processor / other trees) whose log files take the most space, largest first.

        ``bytes`` is the size of their ``*.log`` files before this run, ``bytes_freed`` what this run freed
        (would free, in a dry run) of it: where the disk goes, and what the policy did about it. A DAG that
        fills the disk and frees nothing is the one to give a ``dag_retention`` entry.
        """
        totals = {
            key: self.kept_bytes_by_dag.get(key, 0) + self.bytes_by_dag.get(key, 0)
            for key in self.kept_bytes_by_dag.keys() | self.bytes_by_dag.keys()
        }
        ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [
            {
                "dag_id": key,
                **size_fields("bytes", size),
                **size_fields("bytes_freed", self.bytes_by_dag.get(key, 0)),
                "files_deleted": self.files_by_dag.get(key, 0),
            }
            for key, size in ranked
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary for XCom, ``--json`` and Slack."""
        summary: dict[str, Any] = {
            "dry_run": self.dry_run,
            **({"remote": True} if self.remote else {}),
            "roots": self.roots,
            "files_deleted": self.files_deleted,
            **size_fields("bytes_deleted", self.bytes_deleted),
            "dirs_removed": self.dirs_removed,
            "files_kept": self.files_kept,
            "skipped_recent": self.skipped_recent,
            "skipped_symlinks": self.skipped_symlinks,
            "skipped_hardlinks": self.skipped_hardlinks,
            "skipped_other_files": self.skipped_other_files,
            "skipped_mounts": self.skipped_mounts,
            "vanished": self.vanished,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "top_dags": self.top_dags(),
            "duration_seconds": round(self.duration_seconds, 3),
            "policy": self.policy,
        }
        if self.size_cap is not None:
            size_cap: dict[str, Any] = {}
            for name, value in self.size_cap.items():
                size_cap.update(size_fields(name, value) if name in SIZE_CAP_BYTES else {name: value})
            summary["size_cap"] = size_cap
        if self.volume is not None:
            summary["volume"] = self.volume
        if self.warnings:
            summary["warnings"] = self.warnings
        return summary

    def title(self) -> str:
        title = "Remote log cleanup" if self.remote else "Log cleanup"
        return f"{title} (dry run)" if self.dry_run else title

    def outcome_line(self) -> str:
        """One line for humans: what happened and, on errors, what to look at."""
        from platform_kit.utils import human_bytes

        verb = "would delete" if self.dry_run else "deleted"
        line = f"{verb} {self.files_deleted} {'objects' if self.remote else 'files'} "
        line += f"({human_bytes(self.bytes_deleted)})"
        if not self.remote:
            line += f", {'would remove' if self.dry_run else 'removed'} {self.dirs_removed} empty dirs"
        line += f" in {self.duration_seconds:.1f}s"
        if self.errors:
            line += f"; {self.errors} errors, first: {self.error_samples[0]}"
        return line


def volume_usage(path: str) -> dict[str, Any] | None:
    """The filesystem holding ``path``: its size, bytes in use and use in percent as ``df`` counts it
    (blocks reserved for root are neither used nor available). ``None`` if it cannot be measured."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    total = stats.f_blocks * stats.f_frsize
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    available = stats.f_bavail * stats.f_frsize
    if total <= 0 or used + available <= 0:
        return None
    return {
        "path": path,
        **size_fields("total_bytes", total),
        **size_fields("used_bytes", used),
        **size_fields("available_bytes", available),
        "used_percent": round(100.0 * used / (used + available), 1),
    }

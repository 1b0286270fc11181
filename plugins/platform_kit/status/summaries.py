"""Each maintenance DAG's run summary in human terms, and the facts the verdicts and metrics share.

The summaries are the dicts the DAGs' tasks return (their XCom): written by this kit, JSON, no secrets.
Anything missing or of an unexpected shape is skipped, never guessed: an older kit version or a custom
XCom backend may store less.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from platform_kit.status import catalog
from platform_kit.status.model import DagStatus, RunDetail
from platform_kit.utils import human_bytes

SHORT_SHA = 12


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count(value: int) -> str:
    return f"{value:,}"


def _plural(value: int, noun: str, plural: str = "") -> str:
    return f"{_count(value)} {noun if value == 1 else plural or noun + 's'}"


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- Backup ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupFacts:
    """The newest verified backup, from the ``dump_and_upload``, ``verify`` and ``retention`` summaries.

    :param taken_at: when the dump started (its set id), the age the stale rule measures.
    :param verified_at: when ``verify`` passed.
    """

    taken_at: datetime
    verified_at: datetime | None
    url: str | None
    size: int | None
    sha256: str | None
    toc_entries: int | None
    restore_test: dict[str, Any] | None
    kept: int | None
    deleted: int | None
    retention_dry_run: bool


def backup_facts(detail: RunDetail | None) -> BackupFacts | None:
    """The facts of the verified backup made by ``detail`` (the run whose ``verify`` task succeeded)."""
    if detail is None:
        return None
    from platform_kit.storage.manifest import parse_set_id

    dump = detail.summaries.get("dump_and_upload") or {}
    verify = detail.summaries.get(catalog.BACKUP_VERIFY_TASK) or {}
    retention = detail.summaries.get("retention") or {}
    taken = parse_set_id(dump.get("set_id", "")) if isinstance(dump.get("set_id"), str) else None
    taken = taken or detail.run.start_date or detail.run.run_after
    if taken is None:
        return None
    restore = verify.get("restore_test")
    policy = retention.get("retention") if isinstance(retention.get("retention"), Mapping) else {}
    deleted = policy.get("deleted", policy.get("would_delete"))
    return BackupFacts(
        taken_at=taken,
        verified_at=_parse_time(verify.get("verified_at")) or detail.run.end_date,
        url=dump.get("backup") if isinstance(dump.get("backup"), str) else None,
        size=_int(dump.get("size")) if _int(dump.get("size")) is not None else _int(verify.get("size")),
        sha256=dump.get("sha256") if isinstance(dump.get("sha256"), str) else None,
        toc_entries=_int(verify.get("toc_entries")),
        restore_test=restore if isinstance(restore, Mapping) else None,
        kept=_int(retention.get("kept")),
        deleted=len(deleted) if isinstance(deleted, list) else None,
        retention_dry_run=bool(policy.get("dry_run")),
    )


def describe_backup(facts: BackupFacts) -> list[str]:
    parts = []
    if facts.size is not None:
        parts.append(human_bytes(facts.size))
    if facts.sha256:
        parts.append(f"SHA-256 {facts.sha256[:SHORT_SHA]}")
    parts.append(
        "verified"
        + (f" ({_plural(facts.toc_entries, 'TOC entry', 'TOC entries')})" if facts.toc_entries else "")
    )
    if facts.restore_test:
        tables = _int(facts.restore_test.get("tables"))
        mismatches = facts.restore_test.get("mismatches")
        count = len(mismatches) if isinstance(mismatches, list | dict) else _int(mismatches) or 0
        parts.append(
            "restore-tested"
            + (f": {_plural(tables, 'table')}, {_plural(count, 'mismatch', 'mismatches')}" if tables else "")
        )
    else:
        parts.append("not restore-tested")
    if facts.kept is not None:
        retention = f"retention kept {facts.kept}"
        if facts.deleted:
            retention += f", {'would delete' if facts.retention_dry_run else 'deleted'} {facts.deleted}"
        parts.append(retention)
    return parts


# --- Log cleanup ----------------------------------------------------------------------------------------


def log_volumes(detail: RunDetail | None) -> list[dict[str, Any]]:
    """``[{host, used_percent, used_bytes, total_bytes}]`` the log cleanup measured, one per task (host)."""
    volumes = []
    for summary in detail.summaries.values() if detail else ():
        volume = summary.get("volume")
        if isinstance(volume, Mapping) and isinstance(volume.get("used_percent"), int | float):
            volumes.append({"host": summary.get("host") or "", **volume})
    return volumes


#: The metrics' ``host`` label of the remote log folder's cleanup (a bucket is not a host; one label value
#: whatever the bucket is called keeps the series stable).
REMOTE_LOGS_LABEL = "remote"


def log_cleanup_where(task_id: str, summary: Mapping[str, Any], *, for_label: bool = False) -> str:
    """Where a log cleanup summary's files were: the host (or queue), or the remote folder (``s3://...``)."""
    if summary.get("remote"):
        roots = summary.get("roots")
        return REMOTE_LOGS_LABEL if for_label or not roots else str(roots[0])
    return str(summary.get("host") or summary.get("queue") or task_id)


def describe_log_cleanup(detail: RunDetail) -> list[str]:
    parts = []
    many = len(detail.summaries) > 1
    # Local hosts first, the remote folder last: the order the DAG's tasks run in.
    ordered = sorted(detail.summaries.items(), key=lambda item: (bool(item[1].get("remote")), item[0]))
    for task_id, summary in ordered:
        files, size = _int(summary.get("files_deleted")), _int(summary.get("bytes_deleted"))
        if files is None or size is None:
            continue
        verb = "would delete" if summary.get("dry_run") else "deleted"
        noun = "object" if summary.get("remote") else "file"
        text = f"{verb} {_plural(files, noun)} ({human_bytes(size)})"
        if _int(summary.get("errors")):
            text += f", {_plural(summary['errors'], 'error')}"
        where = log_cleanup_where(task_id, summary)
        parts.append(f"{where}: {text}" if many else text)
    for volume in log_volumes(detail):
        host = f" on {volume['host']}" if many and volume["host"] else ""
        total = _int(volume.get("total_bytes"))
        used = _int(volume.get("used_bytes"))
        size = f" ({human_bytes(used)} of {human_bytes(total)})" if total and used is not None else ""
        parts.append(f"log volume{host} {volume['used_percent']:.0f} % used{size}")
    return parts


# --- Export ---------------------------------------------------------------------------------------------


def describe_export(detail: RunDetail) -> list[str]:
    summary = detail.summaries.get("export") or {}
    parts = []
    variables, connections = _int(summary.get("variables")), _int(summary.get("connections"))
    if variables is not None and connections is not None:
        prefix = "dry run: " if summary.get("dry_run") else ""
        parts.append(f"{prefix}{_plural(variables, 'variable')}, {_plural(connections, 'connection')}")
    if _int(summary.get("bytes")) is not None:
        encryption = str(summary.get("encryption") or "")
        sealed = "PLAINTEXT" if encryption.startswith("PLAINTEXT") else encryption.split(",")[0]
        parts.append(f"{human_bytes(summary['bytes'])}" + (f", {sealed}" if sealed else ""))
    retention = summary.get("retention")
    if isinstance(retention, Mapping) and _int(retention.get("kept")) is not None:
        parts.append(f"retention kept {retention['kept']}")
    return parts


def export_plaintext(detail: RunDetail | None) -> bool:
    summary = (detail.summaries.get("export") if detail else None) or {}
    return str(summary.get("encryption", "")).startswith("PLAINTEXT")


# --- DB cleanup -----------------------------------------------------------------------------------------


def rows_per_table(detail: RunDetail | None) -> dict[str, int]:
    """Rows the DB cleanup deleted per table (in a dry run: would delete), largest first, zeros left out."""
    summary = (detail.summaries.get("clean") if detail else None) or {}
    if summary.get("dry_run"):
        tables = summary.get("tables") if isinstance(summary.get("tables"), Mapping) else {}
        counts = {name: entry.get("matched") for name, entry in tables.items() if isinstance(entry, Mapping)}
    else:
        per_table = summary.get("deleted_per_table")
        counts = dict(per_table) if isinstance(per_table, Mapping) else {}
    rows = {str(name): count for name, count in counts.items() if _int(count)}
    return dict(sorted(rows.items(), key=lambda item: (-item[1], item[0])))


def describe_db_cleanup(detail: RunDetail) -> list[str]:
    summary = detail.summaries.get("clean") or {}
    dry_run = bool(summary.get("dry_run"))
    total = _int(summary.get("rows_matched" if dry_run else "rows_deleted"))
    if total is None:
        return []
    tables = rows_per_table(detail)
    verb = "would delete" if dry_run else "deleted"
    parts = [f"{verb} {_plural(total, 'row')}" + ("" if tables else " (nothing older than the cutoff)")]
    parts += [f"{name} {_count(count)}" for name, count in tables.items()]
    return parts


def was_dry_run(detail: RunDetail | None) -> bool:
    """True if every summary of the run says it was a dry run."""
    summaries = list(detail.summaries.values()) if detail else []
    return bool(summaries) and all(s.get("dry_run") is True for s in summaries)


def describe(status: DagStatus) -> list[str]:
    """The short facts the row shows for its last successful run (the newest verified one for backups)."""
    kind = status.dag.kind
    if kind == catalog.BACKUP:
        facts = backup_facts(status.last_verified)
        return describe_backup(facts) if facts else []
    detail = status.last_success
    if detail is None:
        return []
    renderers = {
        catalog.LOG_CLEANUP: describe_log_cleanup,
        catalog.EXPORT: describe_export,
        catalog.DB_CLEANUP: describe_db_cleanup,
    }
    return renderers[kind](detail)

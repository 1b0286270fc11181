"""Run summaries shaped exactly as the maintenance DAGs' tasks return them, for the Platform page's tests.

The log cleanup and DB cleanup summaries come from the real producers (``CleanupReport.as_dict``,
``dbclean.report.build_summary``), so a change of their shape breaks these tests too. The backup and export
summaries are assembled in their task adapters; the keys below mirror ``backup/tasks.py`` and
``export/engine.py`` (the e2e tests read the real ones from real runs).

Not a test module; ``tests/`` is on ``sys.path`` through its ``conftest.py`` (and the fill script adds it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

GiB = 1024**3


def backup_dump(taken_at: datetime, size: int = 123_456_789) -> dict[str, Any]:
    """``dump_and_upload``'s return value."""
    set_id = taken_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return {
        "backup": f"s3://platform-kit-backups/metadb/{set_id}",
        "set_id": set_id,
        "destination": "s3://platform-kit-backups/metadb",
        "size": size,
        "sha256": "3f2a9c1e0b7d" + "a" * 52,
        "dump_seconds": 12.5,
        "server_version": "16.4",
        "client_version": "16.4",
        "airflow_version": "3.3.2",
        "alembic_revision": "abc123",
        "rows": {"dag_run": 1200, "task_instance": 8000},
        "tables": 57,
        "excluded_table_data": [],
        "fernet_key": "set",
    }


def backup_verify(verified_at: datetime, *, restore_test: bool = True, size: int = 123_456_789) -> dict:
    """``verify``'s return value (``backup.restore.verify_backup``)."""
    result: dict[str, Any] = {
        "ok": True,
        "verified_at": verified_at.isoformat(),
        "sha256_ok": True,
        "size": size,
        "toc_entries": 412,
        "toc_table_data": 57,
        "seconds": 3.2,
    }
    if restore_test:
        result["restore_test"] = {"tables": 57, "mismatches": [], "scratch_database": "x (dropped)"}
    return result


def backup_retention(dump: dict, *, kept: int = 7, deleted: tuple[str, ...] = ("20260101T020000Z",)) -> dict:
    """``retention``'s return value: the run summary (``backup/tasks.py::retention_task``)."""
    return {
        "backup": dump["backup"],
        "size": "117.7 MiB",
        "bytes": dump["size"],
        "sha256": dump["sha256"],
        "rows": dump["rows"],
        "verified": {"sha256": True, "toc_entries": 412},
        "restore_test": {"tables": 57, "mismatches": 0},
        "retention": {"dry_run": False, "deleted": list(deleted), "ignored": [], "bytes_freed": 1000},
        "kept": kept,
        "fernet_key": "set",
    }


def log_cleanup(
    *,
    files: int = 1204,
    size: int = 3 * GiB,
    used_percent: float = 63.0,
    dry_run: bool = False,
    host="worker-1",
) -> dict:
    """``clean_logs``' return value, from the real report class."""
    from platform_kit.logcleanup.report import CleanupReport

    report = CleanupReport(roots=["/opt/airflow/logs"], dry_run=dry_run, policy={"retention_days": 30})
    report.files_deleted, report.bytes_deleted, report.dirs_removed = files, size, 87
    total = 64 * GiB
    used = int(total * used_percent / 100)
    report.volume = {
        "path": "/opt/airflow/logs",
        "total_bytes": total,
        "used_bytes": used,
        "available_bytes": total - used,
        "used_percent": used_percent,
    }
    return {"host": host, **report.as_dict()}


def remote_log_cleanup(*, objects: int = 5120, size: int = 2 * GiB, dry_run: bool = False) -> dict:
    """``clean_remote_logs``' return value for ``s3://logs-bucket/airflow``, from the real report class."""
    from platform_kit.logcleanup.report import CleanupReport

    report = CleanupReport(
        roots=["s3://logs-bucket/airflow"], dry_run=dry_run, policy={"retention_days": 90}, remote=True
    )
    report.files_deleted, report.bytes_deleted = objects, size
    return {"connection": "aws_default", **report.as_dict()}


def export(*, variables: int = 12, connections: int = 5, plaintext: bool = False, dry_run=False) -> dict:
    """``export``'s return value (``export/engine.py::run_export``)."""
    return {
        "encryption": "PLAINTEXT: anyone who can read it"
        if plaintext
        else "AES-256-GCM, key fingerprint ab12",
        "dry_run": dry_run,
        "mode": "sdk",
        "variables": variables,
        "connections": connections,
        "bytes": 4200,
        "size": "4.1 KiB",
        "sha256": "b" * 64,
        "destination": "s3://platform-kit-backups/exports/20261128T020000Z/export.json.enc",
        "retention": {"policy": {"daily": 7}, "kept": 7, "deleted": [], "ignored": []},
    }


def db_cleanup(per_table: dict[str, int], *, dry_run: bool = False) -> dict:
    """``clean``'s return value, from the real summary builder."""
    from platform_kit.dbclean.options import CleanupOptions
    from platform_kit.dbclean.report import build_summary

    tables = {
        name: {"status": "cleaned", "matched": rows, "deleted": 0 if dry_run else rows}
        for name, rows in per_table.items()
    }
    summary = build_summary(
        CleanupOptions(dry_run=dry_run), datetime.now(UTC) - timedelta(days=90), {"tables": tables}
    )
    if dry_run:  # the dry run reports what it would delete as matched, and deletes nothing
        assert summary["rows_deleted"] == 0
    return summary


_run_ids = iter(range(1, 1_000_000))


def detail(
    when: datetime,
    summaries: dict[str, dict] | None = None,
    *,
    state: str = "success",
    tasks: dict[str, str] | None = None,
    minutes: float = 5,
):
    """A :class:`~platform_kit.status.model.RunDetail` as ``collect`` builds it from the DB."""
    from platform_kit.status.model import Run, RunDetail, TaskTry

    end = when + timedelta(minutes=minutes) if state in ("success", "failed") else None
    run = Run(next(_run_ids), f"manual__{when.isoformat()}", state, when, when, end)
    task_states = dict.fromkeys(summaries or {}, "success") | (tasks or {})
    tries = [TaskTry(task_id, -1, 1, task_state) for task_id, task_state in sorted(task_states.items())]
    return RunDetail(run, tries, dict(summaries or {}))


def dag_status(dag_id: str, *, paused: bool = False, deployed: bool = True, **roles):
    """A :class:`~platform_kit.status.model.DagStatus`; ``roles``: last_run, last_success, last_verified."""
    from platform_kit.status.catalog import BY_DAG_ID
    from platform_kit.status.model import DagStatus

    status = DagStatus(BY_DAG_ID[dag_id], deployed=deployed, paused=paused if deployed else None)
    for role, value in roles.items():
        setattr(status, role, value)
    return status


def healthy_backup(now: datetime, hours_ago: float = 3, *, restore_test: bool = True):
    """A backup DAG whose newest run made and verified a backup ``hours_ago``."""
    taken = now - timedelta(hours=hours_ago)
    dump = backup_dump(taken)
    run = detail(
        taken,
        {
            "dump_and_upload": dump,
            "verify": backup_verify(taken + timedelta(minutes=3), restore_test=restore_test),
            "retention": backup_retention(dump),
        },
        tasks={"preflight": "success"},
    )
    return dag_status("platform_kit_metadb_backup", last_run=run, last_success=run, last_verified=run)

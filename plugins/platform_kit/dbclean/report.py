"""The DB cleanup's summary: per-table counts as JSON for XCom, lines for logs, one line for failures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from platform_kit.dbclean.options import CleanupOptions
from platform_kit.dbclean.tables import CUTOFF_COLUMNS
from platform_kit.utils import size_fields

# What to do about a failure, by PostgreSQL SQLSTATE.
_HINTS = {
    "55P03": "another session holds a lock on it; retry off-peak or raise lock_timeout for the cleanup role",
    "57014": "a statement hit statement_timeout; lower batch_size or raise statement_timeout for the role",
    "42501": "the connection's role lacks a privilege; grant SELECT, DELETE and CREATE (archives) on it",
    "23503": "a foreign key blocks the delete; leave that table out or clean its referencing rows first",
}


def failure_line(failed: dict[str, dict[str, Any]], cleaned: int) -> str:
    parts = []
    for table, entry in sorted(failed.items()):
        hint = _HINTS.get(entry.get("sqlstate") or "")
        parts.append(f"{table}: {entry.get('error')}" + (f" -> {hint}" if hint else ""))
    return (
        f"metadata DB cleanup failed on {len(failed)} table(s) [{'; '.join(parts)}]; "
        f"{cleaned} other table(s) were processed; fix the cause and re-run"
    )


def db_size_fields(key: str, size: int | None) -> dict[str, Any]:
    """A database size in bytes with a readable size next to it; ``None`` when it could not be read."""
    return size_fields(key, size) if isinstance(size, int) else {key: size}


def build_summary(options: CleanupOptions, clean_before: datetime, result: dict[str, Any]) -> dict[str, Any]:
    """The run summary: small, JSON-able, no secrets."""
    tables = result.get("tables") or {}
    per_table = {
        name: {
            "status": entry["status"],
            "cutoff": CUTOFF_COLUMNS.get(name),
            "matched": entry["matched"],
            "deleted": entry["deleted"],
            **({"error": entry["error"]} if entry.get("error") and entry["status"] == "failed" else {}),
        }
        for name, entry in sorted(tables.items())
    }
    before, after = result.get("db_size_before"), result.get("db_size_after")
    return {
        "dry_run": options.dry_run,
        "clean_before": clean_before.isoformat(),
        "retention_days": options.retention_days,
        "tables_requested": list(options.tables),
        "dag_ids": list(options.dag_ids),
        "exclude_dag_ids": list(options.exclude_dag_ids),
        "batch_size": options.batch_size,
        "archive": options.archive.value,
        # The short answer first (Slack shows it as one line): rows deleted per table, non-zero only.
        "deleted_per_table": {n: e["deleted"] for n, e in sorted(tables.items()) if e["deleted"]},
        "rows_matched": sum(e["matched"] or 0 for e in tables.values()),
        "rows_deleted": sum(e["deleted"] for e in tables.values()),
        "rows_cascaded": dict(sorted((result.get("cascaded") or {}).items())),
        "tables": per_table,
        "failed_tables": sorted(n for n, e in tables.items() if e["status"] == "failed"),
        "missing_tables": sorted(n for n, e in tables.items() if e["status"] == "missing"),
        "skipped_tables": {n: e["error"] for n, e in sorted(tables.items()) if e["status"] == "skipped"},
        **db_size_fields("db_size_before", before),
        **db_size_fields("db_size_after", after),
        "archive_tables_created": len(result.get("archives_created") or {}),
        "archive_tables_in_db": len(result.get("archives_present") or {}),
        "clean_seconds": result.get("seconds"),
    }


def format_table_report(summary: dict[str, Any]) -> Iterable[str]:
    """Human-readable lines: one per table, then totals (used by the CLI and the task log)."""
    if not summary.get("tables") and not summary.get("rows_cascaded"):
        return  # nothing ran (e.g. a database that is not Airflow's): no empty table to print
    yield f"{'table':<28} {'status':<8} {'matched':>10} {'deleted':>10}  cutoff column"
    for name, entry in summary["tables"].items():
        matched = "-" if entry["matched"] is None else str(entry["matched"])
        line = (
            f"{name:<28} {entry['status']:<8} {matched:>10} {entry['deleted']:>10}  {entry['cutoff'] or ''}"
        )
        if entry.get("error"):
            line += f"  ERROR: {entry['error']}"
        yield line
    for name, count in summary["rows_cascaded"].items():
        yield f"{name:<28} {'cascade':<8} {'':>10} {count:>10}  (deleted by foreign-key cascade)"

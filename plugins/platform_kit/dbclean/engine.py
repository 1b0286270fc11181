"""Run core's ``airflow db clean`` engine against the metadata DB and report what it did, table by table.

The work happens in a child interpreter (:mod:`platform_kit.dbclean._driver`) whose environment carries
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` pointing at the real database: an Airflow 3 task sees a sentinel URL
and cannot use the ORM, and overriding the URL for a subprocess is the documented opt-in. The URL never
goes on a command line and is scrubbed from everything the child prints.

Flow of :func:`clean_metadb`:

1. validate the options; for ``export_and_drop``, prove the destination is writable *before* deleting;
2. ``run_cleanup`` (the function behind ``airflow db clean``) with ``error_on_cleanup_failure`` and
   ``confirm=False``, observed per table: rows matched, rows deleted, rows removed by cascades, cause of
   any failure; DB size before and after;
3. archives: ``skip`` (core's ``--skip-archive``), ``keep`` (archive tables stay in the DB), or
   ``export_and_drop``: core's ``export_archived_records`` to CSV, one file per source table uploaded and
   read back, a manifest written last, and only then core's ``drop_archived_tables`` for exactly the
   tables that were exported;
4. :class:`CleanupFailed` with one line naming each failed table and its cause, after the summary is built.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from platform_kit.dbclean.tables import CUTOFF_COLUMNS, validate_tables
from platform_kit.dburl import secrets_of

#: Retention below this many days is refused: recent history is what people debug with.
MIN_RETENTION_DAYS = 1
DEFAULT_RETENTION_DAYS = 90
DEFAULT_BATCH_SIZE = 10_000

_ARCHIVE_NAME = re.compile(r"^_airflow_deleted__(?P<table>.+?)__(?P<stamp>\d{14})(?:__b(?P<batch>\d+))?$")

# What to do about a failure, by PostgreSQL SQLSTATE.
_HINTS = {
    "55P03": "another session holds a lock on it; retry off-peak or raise lock_timeout for the cleanup role",
    "57014": "a statement hit statement_timeout; lower batch_size or raise statement_timeout for the role",
    "42501": "the connection's role lacks a privilege; grant SELECT, DELETE and CREATE (archives) on it",
    "23503": "a foreign key blocks the delete; leave that table out or clean its referencing rows first",
}


class ArchiveMode(enum.StrEnum):
    """What happens to the rows core moves aside before deleting them."""

    #: ``--skip-archive``: no archive tables are kept (the verified backup holds the rows).
    SKIP = "skip"
    #: core's default: ``_airflow_deleted__<table>__<ts>`` tables stay in the metadata DB.
    KEEP = "keep"
    #: archive tables exported as CSV to object storage, read back, then dropped.
    EXPORT_AND_DROP = "export_and_drop"


class CleanupFailed(Exception):
    """The cleanup did not fully succeed; ``str()`` is one line, ``summary`` says what did happen."""

    def __init__(self, message: str, summary: dict[str, Any] | None = None):
        super().__init__(message)
        self.summary = summary or {}


@dataclass(frozen=True)
class CleanupOptions:
    """Everything a cleanup run can be told; the DAG Params and the CLI flags map onto it one to one.

    :param retention_days: rows older than this many days (by each table's cutoff column) are purged.
    :param tables: tables to clean; empty means :data:`~platform_kit.dbclean.tables.SAFE_TABLES`.
        Core adds dependent tables (e.g. ``dag_run`` pulls in ``task_instance``).
    :param dag_ids: only rows of these DAGs (tables without a ``dag_id`` column ignore it).
    :param exclude_dag_ids: never rows of these DAGs.
    :param batch_size: rows per archive-and-delete transaction; ``None`` for one transaction per table.
    :param dry_run: count what would be purged, change nothing.
    :param archive: see :class:`ArchiveMode`.
    :param export_url: ``s3://`` / ``gs://`` destination for ``export_and_drop``.
    :param aws_conn_id: connection for ``s3://`` destinations.
    :param google_conn_id: connection for ``gs://`` destinations.
    :param now: the reference time (tests); defaults to the current UTC time.
    """

    retention_days: int = DEFAULT_RETENTION_DAYS
    tables: tuple[str, ...] = ()
    dag_ids: tuple[str, ...] = ()
    exclude_dag_ids: tuple[str, ...] = ()
    batch_size: int | None = DEFAULT_BATCH_SIZE
    dry_run: bool = False
    archive: ArchiveMode = ArchiveMode.KEEP
    export_url: str | None = None
    aws_conn_id: str | None = "aws_default"
    google_conn_id: str | None = "google_cloud_default"
    now: datetime | None = field(default=None, compare=False)

    def validated(self) -> CleanupOptions:
        """A copy with normalised fields. :raises ValueError: one line saying what to fix."""
        if int(self.retention_days) < MIN_RETENTION_DAYS:
            raise ValueError(
                f"retention_days must be at least {MIN_RETENTION_DAYS}, got {self.retention_days}"
            )
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be a positive number of rows, got {self.batch_size}")
        archive = ArchiveMode(self.archive)
        overlap = sorted(set(self.dag_ids) & set(self.exclude_dag_ids))
        if overlap:
            raise ValueError(f"dag ids both included and excluded: {overlap}")
        if archive is ArchiveMode.EXPORT_AND_DROP and not self.export_url:
            raise ValueError(
                "archive mode export_and_drop needs an export URL (s3://bucket/prefix or gs://...)"
            )
        return CleanupOptions(
            retention_days=int(self.retention_days),
            tables=tuple(validate_tables(self.tables)),
            dag_ids=tuple(sorted(set(self.dag_ids))),
            exclude_dag_ids=tuple(sorted(set(self.exclude_dag_ids))),
            batch_size=int(self.batch_size) if self.batch_size else None,
            dry_run=bool(self.dry_run),
            archive=archive,
            export_url=self.export_url or None,
            aws_conn_id=self.aws_conn_id,
            google_conn_id=self.google_conn_id,
            now=self.now,
        )

    @property
    def clean_before(self) -> datetime:
        """The cutoff: rows strictly older than this are purged."""
        now = self.now or datetime.now(UTC)
        return now - timedelta(days=self.retention_days)


# -- the child process ---------------------------------------------------------------------------------


class _Driver:
    """Runs ``_driver`` actions in child interpreters with the metadata-DB URL in their environment."""

    def __init__(self, url: str, output: Callable[[str], None]):
        self._url = url
        self._secrets = secrets_of(url)
        self._output = output

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # The task's own settings hold the sentinel (or nothing usable); drop every way Airflow could
        # pick a URL up so the one we pass is the only one.
        for name in (
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN_CMD",
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN_SECRET",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
        ):
            env.pop(name, None)
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self._url
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _scrub_errors(self, result: dict[str, Any]) -> dict[str, Any]:
        # Only error texts can carry the URL (exception messages). The rest is names and paths we
        # or core generated, which a short password (the sandbox's is "airflow") must not mangle.
        if result.get("error"):
            result["error"] = self.redact(result["error"])
        for entry in (result.get("tables") or {}).values():
            if entry.get("error"):
                entry["error"] = self.redact(entry["error"])
        return result

    def run(self, action: str, **request: Any) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="platform-kit-dbclean-") as tmp:
            result_path = Path(tmp) / "result.json"
            proc = subprocess.Popen(
                [sys.executable, "-m", "platform_kit.dbclean._driver", str(result_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                text=True,
            )
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps({"action": action, **request}, default=str))
            proc.stdin.close()
            tail: list[str] = []
            for line in proc.stdout:
                line = self.redact(line.rstrip("\n"))
                self._output(line)
                tail = [*tail[-19:], line]
            code = proc.wait()
            if result_path.exists():
                result = self._scrub_errors(json.loads(result_path.read_text()))
            else:
                last = next((t for t in reversed(tail) if t.strip()), "no output")
                result = {"error": f"cleanup process exited with code {code}: {last}", "fatal": True}
        if code != 0 and not result.get("error"):
            result["error"] = f"cleanup process exited with code {code}"
            result["fatal"] = True
        return result


# -- archives ------------------------------------------------------------------------------------------


def _archive_order(archive_table: str) -> tuple[str, str, int]:
    match = _ARCHIVE_NAME.match(archive_table)
    if not match:
        return (archive_table, "", 0)
    return (match.group("table"), match.group("stamp"), int(match.group("batch") or 0))


def merge_archive_csvs(files: dict[str, dict[str, Any]], out_dir: Path) -> dict[str, dict[str, Any]]:
    """Concatenate core's per-batch CSVs into one file per source table (and header).

    Core writes one archive table per batch (``..._b1``, ``..._b2``...), so a large cleanup leaves
    thousands of small files; one file per table is what someone restoring rows wants. A table whose
    archives have different headers (an upgrade between runs) gets ``<table>-2.csv`` and so on.

    :param files: archive table -> ``{"path", "rows"}`` as exported by core.
    :param out_dir: where the merged files are written.
    :returns: file name -> ``{"path", "rows", "bytes", "sha256", "archive_tables"}``.
    """
    merged: dict[str, dict[str, Any]] = {}
    headers: dict[str, bytes] = {}
    digests: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        handles: dict[str, Any] = {}
        for archive_table in sorted(files, key=_archive_order):
            info = files[archive_table]
            table = _archive_order(archive_table)[0]
            with open(info["path"], "rb") as source:
                header = source.readline()
                name, suffix = f"{table}.csv", 2
                while name in headers and headers[name] != header:
                    name, suffix = f"{table}-{suffix}.csv", suffix + 1
                if name not in handles:
                    headers[name] = header
                    handles[name] = stack.enter_context(open(out_dir / name, "wb"))
                    handles[name].write(header)
                    digests[name] = hashlib.sha256(header)
                    merged[name] = {"path": str(out_dir / name), "rows": 0, "archive_tables": []}
                while chunk := source.read(1024 * 1024):
                    handles[name].write(chunk)
                    digests[name].update(chunk)
            merged[name]["rows"] += int(info["rows"])
            merged[name]["archive_tables"].append(archive_table)
    for name, info in merged.items():
        info["bytes"] = Path(info["path"]).stat().st_size
        info["sha256"] = digests[name].hexdigest()
    return merged


def _export_archives(
    driver: _Driver,
    options: CleanupOptions,
    *,
    clean_before: datetime,
    output: Callable[[str], None],
) -> dict[str, Any]:
    from platform_kit.storage import build_manifest, new_set_id, open_store, write_manifest

    store, dest = open_store(
        options.export_url or "", aws_conn_id=options.aws_conn_id, google_conn_id=options.google_conn_id
    )
    with tempfile.TemporaryDirectory(prefix="platform-kit-dbclean-export-") as tmp:
        raw_dir = Path(tmp) / "raw"
        raw_dir.mkdir()
        exported = driver.run("export", tables=list(options.tables), output_path=str(raw_dir))
        if exported.get("error"):
            raise CleanupFailed(f"exporting archive tables failed: {exported['error']}")
        files = exported["files"]
        if not files:
            return {"destination": None, "files": {}, "dropped": []}
        merged_dir = Path(tmp) / "merged"
        merged_dir.mkdir()
        merged = merge_archive_csvs(files, merged_dir)
        set_id = new_set_id()
        set_url = dest.child(set_id)
        uploaded = []
        for name, info in sorted(merged.items()):
            key = set_url.key(name)
            with open(info["path"], "rb") as handle:
                obj = store.upload_stream(key, handle, expected_size=info["bytes"])
            # Read it back: the archive tables are dropped next, so this copy must be the real thing.
            remote_sha, remote_size = store.sha256_of(key)
            if (remote_sha, remote_size) != (info["sha256"], info["bytes"]):
                raise CleanupFailed(
                    f"uploaded {set_url.url_for(key)} does not match the export (size {remote_size} vs "
                    f"{info['bytes']}); archive tables were kept in the database"
                )
            output(
                f"Uploaded {info['rows']} rows to {set_url.url_for(key)} ({info['bytes']} bytes, verified)"
            )
            uploaded.append(obj)
            info["url"] = set_url.url_for(key)
        write_manifest(
            store,
            set_url,
            build_manifest(
                "dbclean-archive",
                set_id,
                uploaded,
                clean_before=clean_before.isoformat(),
                tables={
                    name: {"rows": i["rows"], "archive_tables": i["archive_tables"]}
                    for name, i in merged.items()
                },
            ),
        )
    dropped = driver.run("drop", tables=list(options.tables), exported=sorted(files))
    if dropped.get("error"):
        raise CleanupFailed(f"dropping exported archive tables failed: {dropped['error']}")
    return {
        "destination": str(set_url),
        "files": {
            name: {"rows": i["rows"], "bytes": i["bytes"], "url": i["url"]} for name, i in merged.items()
        },
        "dropped": dropped["dropped"],
    }


# -- the public entry point ----------------------------------------------------------------------------


def _failure_line(failed: dict[str, dict[str, Any]], cleaned: int) -> str:
    parts = []
    for table, entry in sorted(failed.items()):
        hint = _HINTS.get(entry.get("sqlstate") or "")
        parts.append(f"{table}: {entry.get('error')}" + (f" -> {hint}" if hint else ""))
    return (
        f"metadata DB cleanup failed on {len(failed)} table(s) [{'; '.join(parts)}]; "
        f"{cleaned} other table(s) were processed; fix the cause and re-run"
    )


def clean_metadb(
    options: CleanupOptions,
    *,
    url: str,
    output: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Purge old metadata rows with core's engine and return the run summary.

    :param options: what to clean; validated here.
    :param url: SQLAlchemy URL of the metadata DB (see :func:`platform_kit.dburl.url_from_connection`).
        Only the child process gets it, through its environment.
    :param output: receives every progress line (already scrubbed of the URL and password).
    :returns: JSON-able summary: per-table ``matched`` / ``deleted`` / ``status``, cascaded rows, DB size
        before and after, archive handling, durations.
    :raises ValueError: invalid options (nothing was touched).
    :raises CleanupFailed: a table failed, the process died, or archive export/drop failed; ``summary``
        holds what happened up to then.
    """
    options = options.validated()
    started = time.monotonic()
    clean_before = options.clean_before
    driver = _Driver(url, output)

    if options.archive is ArchiveMode.EXPORT_AND_DROP and not options.dry_run:
        from platform_kit.storage import open_store

        # Refuse before deleting anything if the archives would have nowhere to go.
        try:
            store, dest = open_store(
                options.export_url or "",
                aws_conn_id=options.aws_conn_id,
                google_conn_id=options.google_conn_id,
            )
            store.check_writable(dest.key())
        except Exception as exc:
            raise CleanupFailed(
                f"archive destination {options.export_url} is not usable ({_short(exc)}); nothing was "
                "deleted: fix the destination/connection or choose archive mode keep or skip"
            ) from exc

    result = driver.run(
        "clean",
        clean_before=clean_before.isoformat(),
        tables=list(options.tables),
        dag_ids=list(options.dag_ids),
        exclude_dag_ids=list(options.exclude_dag_ids),
        batch_size=options.batch_size,
        dry_run=options.dry_run,
        skip_archive=options.archive is ArchiveMode.SKIP,
    )
    summary = build_summary(options, clean_before, result)

    if result.get("fatal") and "tables" not in result:
        summary["duration_seconds"] = round(time.monotonic() - started, 1)
        raise CleanupFailed(
            f"metadata DB cleanup could not run: {result['error']}. Check that the metadata-DB connection "
            "(host, port, database, login, password) reaches the Airflow database.",
            summary,
        )

    failed = {t: e for t, e in result["tables"].items() if e["status"] == "failed"}
    problems: list[str] = []
    # Archives of the tables that did get cleaned are exported even when another table failed: they
    # are off the database either way, and a re-run then only has the failed table left to do.
    if options.archive is ArchiveMode.EXPORT_AND_DROP:
        if options.dry_run:
            summary["archive_export"] = "skipped (dry run)"
        else:
            try:
                summary["archive_export"] = _export_archives(
                    driver, options, clean_before=clean_before, output=output
                )
            except CleanupFailed as exc:
                problems.append(str(exc))
            except Exception as exc:
                problems.append(
                    f"rows were cleaned but exporting the archive tables failed ({_short(exc)}); they are "
                    "still in the database: fix the destination and re-run with the same tables"
                )
            else:
                sizes = driver.run("sizes")
                if not sizes.get("error"):
                    summary["db_size_after"] = sizes["db_size"]
                    summary["archive_tables_in_db"] = len(sizes["archives_present"])
    summary["duration_seconds"] = round(time.monotonic() - started, 1)

    if failed:
        cleaned = sum(1 for e in result["tables"].values() if e["status"] == "ok")
        problems.insert(0, _failure_line(failed, cleaned))
    elif result.get("error"):
        done = [t for t, e in result["tables"].items() if e["status"] == "ok"]
        where = f" after cleaning {len(done)} table(s)" if done else " before cleaning any table"
        problems.insert(0, f"metadata DB cleanup aborted{where}: {result['error']}")
    if problems:
        raise CleanupFailed("; and ".join(problems), summary)
    return summary


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


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
        "db_size_before": before,
        "db_size_after": after,
        "archive_tables_created": len(result.get("archives_created") or {}),
        "archive_tables_in_db": len(result.get("archives_present") or {}),
        "clean_seconds": result.get("seconds"),
    }


def format_table_report(summary: dict[str, Any]) -> Iterable[str]:
    """Human-readable lines: one per table, then totals (used by the CLI and the task log)."""
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

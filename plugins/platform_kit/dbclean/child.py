"""Child-process side of the DB cleanup: runs core's ``airflow db clean`` engine and reports per table.

Started by :class:`~platform_kit.dbclean.launcher.ChildLauncher` as ``python -m platform_kit.dbclean.child
RESULT_FD`` with
a JSON request on stdin and ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` set to the real metadata DB. It is a
separate interpreter on purpose: an Airflow 3 task process has its ORM blocked, and this process is where
the documented opt-in URL override applies.

Nothing here decides *what* to delete: ``airflow.utils.db_cleanup.run_cleanup`` (what ``airflow db clean``
calls) does that. The driver only observes it, because the CLI prints neither how many rows it deleted nor
why a table failed:

* ``_cleanup_table`` and ``_check_for_rows`` are wrapped to learn which table is being worked on, how many
  rows matched, and the exception that failed it (core swallows it and logs the cause at DEBUG only);
* a SQLAlchemy cursor hook counts the rows each ``DELETE`` removed, and on PostgreSQL reads
  ``pg_stat_xact_user_tables`` around it to see the rows foreign-key cascades removed from other tables.

The result is written as JSON to the pipe ``RESULT_FD``; human-readable progress goes to stdout.
"""

from __future__ import annotations

import functools
import sys
import time
import traceback
from datetime import datetime
from typing import Any

from platform_kit.exceptions import AirflowCompatError, DbCleanupError
from platform_kit.utils import one_line
from platform_kit.version_compat import (
    DB_CLEANUP,
    airflow_conf,
    airflow_version_text,
    alembic_revisions,
    create_session,
    db_cleanup_module,
    moved,
    run_db_cleanup,
    settings_engine,
)

#: Tables without which a database is not an Airflow metadata DB, whatever else it holds.
AIRFLOW_CORE_TABLES = ("alembic_version", "dag", "dag_run", "task_instance")


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)


class _Observer:
    """Collects what core does, table by table."""

    def __init__(self, tables: list[str], skip: dict[str, str] | None = None):
        self.tables: dict[str, dict[str, Any]] = {
            name: {"status": "not_run", "matched": None, "deleted": 0, "seconds": 0.0} for name in tables
        }
        self.skip = skip or {}
        self.cascaded: dict[str, int] = {}
        self.current: str | None = None
        self._stats_before: dict[str, int] = {}

    def entry(self, table: str) -> dict[str, Any]:
        return self.tables.setdefault(
            table, {"status": "not_run", "matched": None, "deleted": 0, "seconds": 0.0}
        )

    # -- wrappers around core --------------------------------------------------------------------------
    # functools.wraps keeps core's signature visible (inspect follows __wrapped__), so a later shape
    # check by version_compat.db_cleanup_module() in this process still sees what core takes.
    def wrap_cleanup_table(self, original):
        @functools.wraps(original)
        def _cleanup_table(**kwargs):
            table = kwargs["orm_model"].name
            entry = self.entry(table)
            if table in self.skip:
                entry["status"] = "skipped"
                entry["error"] = self.skip[table]
                print(f"\nSkipping table {table}: {self.skip[table]}")
                return
            self.current = table
            started = time.monotonic()
            try:
                original(**kwargs)
            except BaseException as exc:
                entry["status"] = "failed"
                entry["error"] = one_line(exc, with_type=True)
                entry["sqlstate"] = _sqlstate(exc)
                raise
            else:
                entry["status"] = "ok"
            finally:
                entry["seconds"] = round(entry["seconds"] + time.monotonic() - started, 3)
                self.current = None

        return _cleanup_table

    def wrap_check_for_rows(self, original):
        @functools.wraps(original)
        def _check_for_rows(**kwargs):
            count = original(**kwargs)
            if self.current is not None:
                self.entry(self.current)["matched"] = int(count)
            return count

        return _check_for_rows

    # -- cursor hooks ----------------------------------------------------------------------------------
    @staticmethod
    def _is_delete(statement: str) -> bool:
        return statement.lstrip()[:6].upper() == "DELETE"

    @staticmethod
    def _xact_deletes(cursor) -> dict[str, int]:
        raw = cursor.connection.cursor()
        try:
            raw.execute("SELECT relname, n_tup_del FROM pg_stat_xact_user_tables WHERE n_tup_del > 0")
            return {name: int(count) for name, count in raw.fetchall()}
        finally:
            raw.close()

    def before_cursor_execute(self, conn, cursor, statement, parameters, context, executemany):
        if self.current and self._is_delete(statement) and conn.dialect.name == "postgresql":
            self._stats_before = self._xact_deletes(cursor)

    def after_cursor_execute(self, conn, cursor, statement, parameters, context, executemany):
        if not (self.current and self._is_delete(statement)):
            return
        entry = self.entry(self.current)
        entry["deleted"] += max(cursor.rowcount, 0)
        if conn.dialect.name != "postgresql":
            return
        for table, count in self._xact_deletes(cursor).items():
            delta = count - self._stats_before.get(table, 0)
            if table == self.current:
                delta -= max(cursor.rowcount, 0)
            if delta > 0:
                self.cascaded[table] = self.cascaded.get(table, 0) + delta
        self._stats_before = {}


def _database_size(session) -> int | None:
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(session.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def _archive_tables(session, tables: list[str] | None) -> dict[str, int]:
    """Archive tables core would export/drop for ``tables``, with their row counts."""
    core = db_cleanup_module()
    from sqlalchemy import text

    names = core._get_archived_table_names(tables, session)
    return {name: int(session.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()) for name in names}


def _known(tables: list[str]) -> list[str]:
    core = db_cleanup_module()

    return [t for t in tables if t in core.config_dict]


def _unfilterable(tables: list[str]) -> dict[str, str]:
    """Tables a DAG filter cannot apply to, with the reason.

    Core ignores ``--dag-ids`` for tables it has no ``dag_id`` column configured for (it would purge them
    for every DAG), and 3.3.2 configures one for some tables that do not have it (the query fails).
    Neither is what someone asking for "only these DAGs" wants, so such tables are skipped.
    """
    core = db_cleanup_module()
    from sqlalchemy import inspect

    inspector = inspect(settings_engine())
    existing = set(inspector.get_table_names())
    skip = {}
    for table in tables:
        column = core.config_dict[table].dag_id_column_name
        if table not in existing:
            continue
        if column is None:
            skip[table] = "has no dag_id, so a DAG filter cannot apply; clean it without --dag-ids"
        elif column not in {c["name"] for c in inspector.get_columns(table)}:
            skip[table] = (
                f"core filters it on {column!r}, which this schema lacks; clean it without --dag-ids"
            )
    return skip


def require_airflow_database() -> None:
    """Refuse a database this Airflow does not recognise as its metadata DB.

    Core's cleanup skips every table it cannot find and reports success, so a connection naming the wrong
    database would "clean" nothing, green, forever.

    :raises DbCleanupError: no Airflow tables, or an alembic revision this Airflow does not know; the
        message names the database.
    """
    from sqlalchemy import inspect, text

    engine = settings_engine()
    where = f"database {engine.url.database!r} on {engine.url.host}:{engine.url.port or 5432}"
    schema = airflow_conf().get("database", "sql_alchemy_schema", fallback="") or None
    present = set(inspect(engine).get_table_names(schema=schema))
    missing = [table for table in AIRFLOW_CORE_TABLES if table not in present]
    if missing:
        raise DbCleanupError(
            f"{where} is not an Airflow metadata DB (no {', '.join(missing)} table); nothing was cleaned - "
            "check the database name (schema) of the metadata-DB connection"
        )
    table = f'"{schema}".alembic_version' if schema else "alembic_version"
    with create_session() as session:
        revisions = [row[0] for row in session.execute(text(f"SELECT version_num FROM {table}"))]
    unknown = sorted(set(revisions) - alembic_revisions())
    if unknown or not revisions:
        found = ", ".join(unknown) if unknown else "none"
        raise DbCleanupError(
            f"{where} is at alembic revision {found}, which Airflow {airflow_version_text()} does not know; "
            "nothing was cleaned - run the cleanup with the Airflow version that migrated this database"
        )


def _unobserved(observer: _Observer, existing: set[str]) -> str | None:
    """The error when core cleaned a table the wrappers never saw (its counts would be made up), or None.

    Core cleans every selected table that exists in the database through ``_cleanup_table``, which
    counts it through ``_check_for_rows``. A table that exists but was never seen there, or was cleaned
    without a count, means core's internals changed under the wrappers; better no report than a wrong one.
    """
    unseen = sorted(
        name
        for name, entry in observer.tables.items()
        if name in existing
        and name not in observer.skip
        and (entry["status"] == "missing" or (entry["status"] == "ok" and entry["matched"] is None))
    )
    if not unseen:
        return None
    return str(
        moved(
            DB_CLEANUP,
            f"core cleaned {', '.join(unseen)} without the kit seeing the row counts",
            "run `airflow db clean` by hand until the kit supports this version",
        )
    )


def clean(request: dict[str, Any]) -> dict[str, Any]:
    core = db_cleanup_module()
    from sqlalchemy import event, inspect

    require_airflow_database()

    requested: list[str] = request["tables"]
    tables = _known(requested)
    effective, _ = core._effective_table_names(table_names=tables)
    # A requested table core does not offer in this deployment (``session`` without FAB's database
    # sessions) is reported "missing" rather than passed on to be skipped with a warning.
    dag_filter = bool(request.get("dag_ids") or request.get("exclude_dag_ids"))
    observer = _Observer(
        effective + [t for t in requested if t not in effective],
        skip=_unfilterable(effective) if dag_filter else {},
    )
    result: dict[str, Any] = {"effective_tables": effective}

    with create_session() as session:
        result["db_size_before"] = _database_size(session)
        archives_before = set(_archive_tables(session, tables))
    existing = set(inspect(settings_engine()).get_table_names())

    core._cleanup_table = observer.wrap_cleanup_table(core._cleanup_table)
    core._check_for_rows = observer.wrap_check_for_rows(core._check_for_rows)
    event.listen(settings_engine(), "before_cursor_execute", observer.before_cursor_execute)
    event.listen(settings_engine(), "after_cursor_execute", observer.after_cursor_execute)

    started = time.monotonic()
    error: str | None = None
    try:
        run_db_cleanup(
            core,
            clean_before_timestamp=datetime.fromisoformat(request["clean_before"]),
            table_names=tables,
            dag_ids=request.get("dag_ids") or None,
            exclude_dag_ids=request.get("exclude_dag_ids") or None,
            dry_run=bool(request["dry_run"]),
            verbose=False,
            confirm=False,
            skip_archive=bool(request["skip_archive"]),
            batch_size=request.get("batch_size") or None,
        )
    except AirflowCompatError:
        raise  # refused before anything ran; the parent prints the one line
    except RuntimeError as exc:
        # Raised by core after all tables ran when any of them failed; the per-table causes are
        # already recorded by the observer.
        if not any(t["status"] == "failed" for t in observer.tables.values()):
            error = one_line(exc, with_type=True)
    except Exception as exc:
        # Anything core does not swallow (e.g. a foreign-key violation) aborts the whole run.
        error = one_line(exc, with_type=True)
        traceback.print_exc()
    result["seconds"] = round(time.monotonic() - started, 3)
    completed = error is None
    for entry in observer.tables.values():
        if entry["status"] == "not_run" and completed:
            # run_cleanup only skips a selected table when it does not exist in this deployment
            # (e.g. celery_taskmeta without the Celery executor).
            entry["status"] = "missing"
    if completed:
        error = _unobserved(observer, existing)
    result["tables"] = observer.tables
    result["cascaded"] = observer.cascaded
    result["error"] = error

    with create_session() as session:
        result["db_size_after"] = _database_size(session)
        archives_after = _archive_tables(session, tables)
    result["archives_created"] = {n: c for n, c in archives_after.items() if n not in archives_before}
    result["archives_present"] = archives_after
    return result


def export(request: dict[str, Any]) -> dict[str, Any]:
    """Export archive tables to CSV files with core's ``export_archived_records`` (no drop)."""
    import csv
    from pathlib import Path

    core = db_cleanup_module()

    tables = _known(request["tables"])
    out = Path(request["output_path"])
    with create_session() as session:
        names = core._get_archived_table_names(tables, session)
    core.export_archived_records(
        export_format="csv",
        output_path=str(out),
        table_names=tables,
        drop_archives=False,
        needs_confirm=False,
    )
    files = {}
    for name in names:
        path = out / f"{name}.csv"
        with path.open(newline="") as handle:
            rows = sum(1 for _ in csv.reader(handle)) - 1  # header
        files[name] = {"path": str(path), "rows": rows, "bytes": path.stat().st_size}
    return {"files": files}


def drop(request: dict[str, Any]) -> dict[str, Any]:
    """Drop archive tables with core's ``drop_archived_tables``, only if each one was exported."""
    core = db_cleanup_module()

    tables = _known(request["tables"])
    allowed = set(request["exported"])
    with create_session() as session:
        present = core._get_archived_table_names(tables, session)
    unexported = sorted(set(present) - allowed)
    if unexported:
        # Never drop the only copy: these appeared after the export (another cleanup running?).
        return {"dropped": [], "error": f"archive tables not exported, refusing to drop: {unexported}"}
    core.drop_archived_tables(table_names=tables, needs_confirm=False)
    return {"dropped": sorted(present), "error": None}


def sizes(request: dict[str, Any]) -> dict[str, Any]:
    """Current DB size and archive tables (used by the preflight)."""

    with create_session() as session:
        return {"db_size": _database_size(session), "archives_present": _archive_tables(session, None)}


ACTIONS = {"clean": clean, "export": export, "drop": drop, "sizes": sizes}


def _failure(exc: Exception) -> dict[str, Any]:
    from sqlalchemy.exc import OperationalError

    from platform_kit.exceptions import PlatformKitError

    # An unreachable DB, a refused login or an Airflow version whose internals moved is an expected
    # failure: the parent's one line says it all. Anything else is a bug worth its traceback.
    if not isinstance(exc, (OperationalError, PlatformKitError)):
        traceback.print_exc()
    if isinstance(exc, DbCleanupError):
        return {"error": str(exc), "fatal": True, "refused": True}
    return {"error": one_line(exc, with_type=True), "fatal": True}


def main(argv: list[str]) -> int:
    from platform_kit.dbclean.launcher import child_main

    return child_main(argv, lambda request: ACTIONS[request["action"]](request), _failure)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

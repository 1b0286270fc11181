"""Run core's ``airflow db clean`` engine against the metadata DB and report what it did, table by table.

The work happens in a child interpreter (:mod:`platform_kit.dbclean.child`, started by
:class:`~platform_kit.dbclean.launcher.ChildLauncher`) whose environment carries
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
4. :class:`DbCleanupError` with one line naming each failed table and its cause, after the summary is built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from platform_kit.dbclean.archives import export_archives
from platform_kit.dbclean.launcher import ChildLauncher
from platform_kit.dbclean.options import ArchiveMode, CleanupOptions
from platform_kit.dbclean.report import build_summary, db_size_fields, failure_line
from platform_kit.exceptions import DbCleanupError
from platform_kit.utils import one_line


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
    :raises ConfigurationError: invalid options (nothing was touched).
    :raises DbCleanupError: a table failed, the process died, or archive export/drop failed; ``summary``
        holds what happened up to then.
    """
    options = options.validated()
    started = time.monotonic()
    clean_before = options.clean_before
    driver = ChildLauncher(url, output)

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
            raise DbCleanupError(
                f"archive destination {options.export_url} is not usable ({one_line(exc)}); nothing was "
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

    if result.get("refused"):
        # Not a database this Airflow recognises as its own: the child's line names it and the fix.
        raise DbCleanupError(result["error"], summary)
    if result.get("fatal") and "tables" not in result:
        summary["duration_seconds"] = round(time.monotonic() - started, 1)
        raise DbCleanupError(
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
                summary["archive_export"] = export_archives(
                    driver, options, clean_before=clean_before, output=output
                )
            except DbCleanupError as exc:
                problems.append(str(exc))
            except Exception as exc:
                problems.append(
                    f"rows were cleaned but exporting the archive tables failed ({one_line(exc)}); they are "
                    "still in the database: fix the destination and re-run with the same tables"
                )
            else:
                sizes = driver.run("sizes")
                if not sizes.get("error"):
                    summary.update(db_size_fields("db_size_after", sizes["db_size"]))
                    summary["archive_tables_in_db"] = len(sizes["archives_present"])
    summary["duration_seconds"] = round(time.monotonic() - started, 1)

    if failed:
        cleaned = sum(1 for e in result["tables"].values() if e["status"] == "ok")
        problems.insert(0, failure_line(failed, cleaned))
    elif result.get("error"):
        done = [t for t, e in result["tables"].items() if e["status"] == "ok"]
        where = f" after cleaning {len(done)} table(s)" if done else " before cleaning any table"
        problems.insert(0, f"metadata DB cleanup aborted{where}: {result['error']}")
    if problems:
        raise DbCleanupError("; and ".join(problems), summary)
    return summary

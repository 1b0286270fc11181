"""``platform-kit db clean``: the metadata-DB cleanup from a shell, with the DAG's options.

Examples::

    platform-kit db clean --retention-days 90 --dry-run
    platform-kit db clean --retention-days 90 --tables log,xcom --batch-size 5000 --archive skip
    PLATFORM_KIT_METADB_DSN=postgresql://... platform-kit db clean --retention-days 30 --json

The database comes from ``--conn-id`` (an Airflow connection visible to this shell, e.g. via
``AIRFLOW_CONN_AIRFLOW_METADB``) or from a DSN. Prefer the ``PLATFORM_KIT_METADB_DSN`` environment
variable to ``--dsn``: a command line is visible to every user through ``ps``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from platform_kit.cli import add_metadb_arguments, metadb_url_from_args
from platform_kit.dbclean.engine import clean_metadb
from platform_kit.dbclean.options import ArchiveMode, CleanupOptions
from platform_kit.dbclean.report import format_table_report
from platform_kit.dbclean.tables import ALL_TABLES, SAFE_TABLES
from platform_kit.defaults import (
    AWS_CONN_ID,
    DB_CLEAN_BATCH_SIZE,
    DB_CLEAN_RETENTION_DAYS,
    GOOGLE_CONN_ID,
)
from platform_kit.exceptions import DbCleanupError


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _db_group(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The ``db`` command group's subparsers, created once and shared by every ``db`` subcommand."""
    parser = subparsers.choices.get("db")
    if parser is None:
        parser = subparsers.add_parser("db", help="metadata database maintenance")
        return parser.add_subparsers(dest="db_command", metavar="COMMAND")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="db_command", metavar="COMMAND")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``db clean`` to the ``platform-kit`` parser."""
    parser = _db_group(subparsers).add_parser(
        "clean",
        help="purge old metadata rows with core's `airflow db clean` engine, loudly",
        description=(
            "Purge metadata rows older than the retention with Airflow's own cleanup engine, always "
            "failing if any table fails, and report rows deleted per table and the DB size before/after. "
            f"Default tables: {', '.join(SAFE_TABLES)}."
        ),
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        default=DB_CLEAN_RETENTION_DAYS,
        help=f"purge rows older than this many days (default {DB_CLEAN_RETENTION_DAYS})",
    )
    parser.add_argument(
        "--tables",
        type=_csv_list,
        default=[],
        help=f"comma-separated tables (default: the safe set). Choices: {', '.join(ALL_TABLES)}",
    )
    parser.add_argument(
        "--dag-ids", type=_csv_list, default=[], help="only rows of these DAGs (comma-separated)"
    )
    parser.add_argument(
        "--exclude-dag-ids", type=_csv_list, default=[], help="never rows of these DAGs (comma-separated)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DB_CLEAN_BATCH_SIZE,
        help=f"rows per archive-and-delete transaction (default {DB_CLEAN_BATCH_SIZE}; 0 = one per table)",
    )
    parser.add_argument("--dry-run", action="store_true", help="count what would be purged; change nothing")
    parser.add_argument(
        "--archive",
        choices=[mode.value for mode in ArchiveMode],
        default=ArchiveMode.KEEP.value,
        help="skip: no archive tables; keep (default): leave _airflow_deleted__* tables in the DB; "
        "export_and_drop: upload them as CSV to --export-url, verify, then drop them",
    )
    parser.add_argument("--export-url", help="s3://bucket/prefix or gs://bucket/prefix for export_and_drop")
    parser.add_argument(
        "--aws-conn-id", default=AWS_CONN_ID, help=f"connection for s3:// (default {AWS_CONN_ID})"
    )
    parser.add_argument(
        "--google-conn-id",
        default=GOOGLE_CONN_ID,
        help=f"connection for gs:// (default {GOOGLE_CONN_ID})",
    )
    add_metadb_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout at the end")
    parser.set_defaults(handler=handle_clean)


def handle_clean(args: argparse.Namespace) -> int:
    url = metadb_url_from_args(args)
    options = CleanupOptions(
        retention_days=args.retention_days,
        tables=tuple(args.tables),
        dag_ids=tuple(args.dag_ids),
        exclude_dag_ids=tuple(args.exclude_dag_ids),
        batch_size=args.batch_size or None,
        dry_run=args.dry_run,
        archive=ArchiveMode(args.archive),
        export_url=args.export_url,
        aws_conn_id=args.aws_conn_id,
        google_conn_id=args.google_conn_id,
    )
    # With --json, stdout carries only the summary; progress goes to stderr.
    progress = sys.stderr if args.json else args.results

    def emit(line: str) -> None:
        print(line, file=progress, flush=True)

    try:
        summary: dict[str, Any] = clean_metadb(options, url=url, output=emit)
    except DbCleanupError as exc:
        if exc.summary:
            for line in format_table_report(exc.summary):
                emit(line)
            if args.json:
                print(json.dumps({"error": str(exc), **exc.summary}, indent=2), file=args.results)
        raise
    for line in format_table_report(summary):
        emit(line)
    prefix = "dry run: " if options.dry_run else ""
    emit(
        f"{prefix}{summary['rows_matched']} rows matched, {summary['rows_deleted']} deleted, "
        f"DB size {summary['db_size_before']} -> {summary['db_size_after']} bytes"
    )
    if args.json:
        print(json.dumps(summary, indent=2), file=args.results)
    return 0

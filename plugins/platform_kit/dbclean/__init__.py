"""Metadata-DB cleanup: core's ``airflow db clean`` engine, made safe to run from an Airflow 3 DAG.

Public API::

    from platform_kit.dbclean import ArchiveMode, CleanupOptions, clean_metadb, url_from_connection

    summary = clean_metadb(CleanupOptions(retention_days=90, dry_run=True), url=url)

See ``docs/db-cleanup.md`` for the safe table set, the cutoff column of each table and the trade-offs of
passing the database URL to a child process.
"""

from __future__ import annotations

from platform_kit.dbclean.engine import clean_metadb
from platform_kit.dbclean.options import MIN_RETENTION_DAYS, ArchiveMode, CleanupOptions
from platform_kit.dbclean.report import format_table_report
from platform_kit.dbclean.tables import ALL_TABLES, CUTOFF_COLUMNS, SAFE_TABLES, UNSAFE_TABLES
from platform_kit.dburl import sqlalchemy_url, url_from_connection, url_from_dsn

__all__ = [
    "ALL_TABLES",
    "CUTOFF_COLUMNS",
    "MIN_RETENTION_DAYS",
    "SAFE_TABLES",
    "UNSAFE_TABLES",
    "ArchiveMode",
    "CleanupOptions",
    "clean_metadb",
    "format_table_report",
    "sqlalchemy_url",
    "url_from_connection",
    "url_from_dsn",
]

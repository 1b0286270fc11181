"""Airflow adapter for the metadata-DB cleanup DAG: Params in, :func:`clean_metadb` out, summary reported.

Runs in a task (the ORM is blocked there): the database URL comes from the dedicated connection, not from
Airflow's own settings, and is registered with the secrets masker before anything can print it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from platform_kit.adapters import task_failures
from platform_kit.dbclean.engine import clean_metadb
from platform_kit.dbclean.options import ArchiveMode, CleanupOptions
from platform_kit.dbclean.report import format_table_report
from platform_kit.dburl import task_metadb_url
from platform_kit.exceptions import DbCleanupError
from platform_kit.maintenance import optional_text
from platform_kit.settings import BACKUP_URL_VARIABLE

log = logging.getLogger(__name__)

#: Archives go to this sibling of the backup prefix unless ``export_url`` is set.
ARCHIVE_SUBDIR = "db-clean-archives"


def options_from_params(params: Mapping[str, Any], *, export_url: str | None = None) -> CleanupOptions:
    """Map the DAG's Params onto :class:`CleanupOptions` (validation happens in the engine)."""
    return CleanupOptions(
        retention_days=int(params["retention_days"]),
        tables=tuple(params.get("tables") or ()),
        dag_ids=tuple(params.get("dag_ids") or ()),
        exclude_dag_ids=tuple(params.get("exclude_dag_ids") or ()),
        batch_size=params.get("batch_size") or None,
        dry_run=bool(params.get("dry_run")),
        archive=ArchiveMode(params.get("archive") or ArchiveMode.KEEP.value),
        export_url=export_url,
        aws_conn_id=params.get("aws_conn_id") or None,
        google_conn_id=params.get("google_conn_id") or None,
    )


def _export_url(params: Mapping[str, Any]) -> str | None:
    if params.get("archive") != ArchiveMode.EXPORT_AND_DROP.value:
        return None
    from platform_kit.storage import resolve_destination

    export_url = optional_text(params, "export_url")
    if export_url:
        return resolve_destination(export_url, BACKUP_URL_VARIABLE, param_name="export_url")
    return archive_url_next_to(resolve_destination(None, BACKUP_URL_VARIABLE, param_name="export_url"))


def archive_url_next_to(backup_url: str) -> str:
    """``s3://b/metadb`` -> ``s3://b/db-clean-archives``: a sibling of the backup prefix.

    Not *inside* it: the backup retention treats every folder under its prefix as a backup set.
    """
    from platform_kit.storage import parse_url

    parsed = parse_url(backup_url)
    parent = parsed.prefix.rpartition("/")[0]
    return str(type(parsed)(parsed.scheme, parsed.bucket, "/".join(p for p in (parent, ARCHIVE_SUBDIR) if p)))


def run_cleanup(params: Mapping[str, Any], dag_run: Any = None) -> dict[str, Any]:
    """Task body: clean, log a per-table report, return the summary for XCom (Slack when configured).

    An asset-triggered or scheduled run (``dag_run``) is a dry run until the DAG is confirmed
    (:mod:`platform_kit.confirmation`).

    Fails the task with one line naming each failed table and its cause; the summary is logged first.
    """
    from platform_kit.confirmation import deletion_gate
    from platform_kit.summary import report

    with task_failures():
        url = task_metadb_url(params["metadb_conn_id"])

        gate = deletion_gate(dag_run, requested_dry_run=bool(params.get("dry_run")))
        options = replace(options_from_params(params, export_url=_export_url(params)), dry_run=gate.dry_run)
        slack = optional_text(params, "slack_conn_id")
        title = "Metadata DB cleanup" + (" (dry run)" if options.dry_run else "")
        try:
            summary = clean_metadb(options, url=url, output=log.info)
        except DbCleanupError as exc:
            if exc.summary:
                for line in format_table_report(exc.summary):
                    log.error("%s", line)
                report(f"{title} FAILED", {"error": str(exc), **exc.summary}, slack_conn_id=slack, logger=log)
            raise
    for line in format_table_report(summary):
        log.info("%s", line)
    summary = report(title, {**gate.summary(), **summary}, slack_conn_id=slack, logger=log)
    gate.record()
    return summary

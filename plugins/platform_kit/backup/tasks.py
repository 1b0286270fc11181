"""The backup DAG's tasks: thin adapters from Params and Connections to the engine.

Every function takes the run's Params (and what the previous task returned) and returns a small
JSON-able dict for XCom. Expected failures become ``AirflowFailException`` with the engine's one-line
message, so the log's last line says what to fix and the task is not retried pointlessly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from platform_kit.adapters import task_failures
from platform_kit.defaults import AWS_CONN_ID, BACKUP_LOCK_WAIT_TIMEOUT_SECONDS, GOOGLE_CONN_ID
from platform_kit.exceptions import BackupError, ConfigurationError
from platform_kit.maintenance import optional_text
from platform_kit.settings import BACKUP_URL_VARIABLE

log = logging.getLogger(__name__)

#: What the run summary repeats of :func:`platform_kit.storage.apply_retention`'s result.
RETENTION_SUMMARY_KEYS = (
    "dry_run", "deleted", "would_delete", "ignored",
    "bytes_freed", "bytes_freed_human", "bytes_would_free", "bytes_would_free_human",
)  # fmt: skip

FERNET_NOTE = (
    "Restoring this backup needs the same [core] fernet_key as the source Airflow; keep the key backed up "
    "separately (the manifest holds only its SHA-256 fingerprint)."
)


def _store(params: Mapping[str, Any], url: str):
    from platform_kit.storage import open_store

    checksum = params.get("request_checksum_calculation") or None
    return open_store(
        url,
        aws_conn_id=params.get("aws_conn_id") or AWS_CONN_ID,
        google_conn_id=params.get("google_conn_id") or GOOGLE_CONN_ID,
        request_checksum_calculation=None if checksum == "when_supported" else checksum,
    )


def _options(params: Mapping[str, Any]):
    from platform_kit.backup.engine import DumpOptions

    level = params.get("compress_level")
    return DumpOptions(
        exclude_table_data=tuple(params.get("exclude_table_data") or ()),
        lock_wait_timeout_s=int(params.get("lock_wait_timeout_seconds") or BACKUP_LOCK_WAIT_TIMEOUT_SECONDS),
        compress_level=None if level is None or int(level) < 0 else int(level),
    )


def preflight_task(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check pg_dump, the database, the bucket and the prefix; return the resolved destination."""
    from platform_kit.backup.engine import preflight
    from platform_kit.backup.source import target_from_connection
    from platform_kit.storage import resolve_destination

    with task_failures():
        url = resolve_destination(optional_text(params, "destination"), BACKUP_URL_VARIABLE)
        store, dest = _store(params, url)
        _options(params)  # reject bad option values before anything runs
        facts = preflight(target_from_connection(params["metadb_conn_id"]), store, dest)
    log.info("preflight passed: %s", facts)
    return {**facts, "destination": str(dest)}


def dump_task(params: Mapping[str, Any], checked: Mapping[str, Any]) -> dict[str, Any]:
    """Stream pg_dump to the destination checked by :func:`preflight_task`; manifest written last."""
    from platform_kit.backup.engine import create_backup, main_table_counts
    from platform_kit.backup.source import target_from_connection

    with task_failures():
        store, dest = _store(params, checked["destination"])
        manifest = create_backup(
            target_from_connection(params["metadb_conn_id"]),
            store,
            dest,
            options=_options(params),
            check_destination=False,
        )
    return {
        "backup": str(dest.child(manifest["set_id"])),
        "set_id": manifest["set_id"],
        "destination": str(dest),
        "size": manifest["size"],
        "sha256": manifest["sha256"],
        "dump_seconds": manifest["dump_seconds"],
        "server_version": manifest["server_version"],
        "client_version": manifest["client_version"],
        "airflow_version": manifest["airflow_version"],
        "alembic_revision": manifest["alembic_revision"],
        "rows": main_table_counts(manifest),
        "tables": len(manifest["row_counts"]),
        "excluded_table_data": manifest["excluded_table_data"],
        "fernet_key": manifest["fernet_key"],
    }


def verify_task(
    params: Mapping[str, Any],
    dumped: Mapping[str, Any],
    set_asset_extra: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Re-read the new backup, check it (and optionally restore-test it); record the result."""
    from platform_kit.backup.restore import verify_backup
    from platform_kit.backup.source import target_from_connection
    from platform_kit.storage import parse_url

    with task_failures():
        store, _ = _store(params, dumped["destination"])
        restore_server = None
        if params.get("restore_test"):
            restore_server = target_from_connection(
                optional_text(params, "restore_test_conn_id") or params["metadb_conn_id"]
            )
        result = verify_backup(
            store,
            parse_url(dumped["backup"]),
            restore_test=restore_server,
            expected_sha256=dumped["sha256"],
        )
    if set_asset_extra is not None:
        set_asset_extra({"backup": dumped["backup"], "sha256": dumped["sha256"], "size": dumped["size"]})
    return result


def retention_task(
    params: Mapping[str, Any],
    dumped: Mapping[str, Any],
    verified: Mapping[str, Any],
    dag_run: Any = None,
) -> dict[str, Any]:
    """Apply GFS retention over verified backups, then report the whole run.

    A scheduled run's retention is a dry run until the DAG is confirmed (:mod:`platform_kit.confirmation`);
    the backup itself is always taken.
    """
    from platform_kit.backup.engine import fernet_fingerprint_line
    from platform_kit.confirmation import deletion_gate
    from platform_kit.storage import RetentionPolicy, apply_retention
    from platform_kit.summary import report
    from platform_kit.utils import human_bytes

    with task_failures():
        if not verified.get("ok"):
            raise BackupError(f"{dumped['backup']} is not verified; retention skipped so nothing is deleted")
        store, dest = _store(params, dumped["destination"])
        try:
            policy = RetentionPolicy(
                daily=int(params["keep_daily"]),
                weekly=int(params["keep_weekly"]),
                monthly=int(params["keep_monthly"]),
            )
        except ValueError as exc:
            raise ConfigurationError(f"{exc}; fix the keep_* Params") from exc
        gate = deletion_gate(dag_run, requested_dry_run=bool(params.get("retention_dry_run")))
        retention = apply_retention(
            store,
            dest,
            policy,
            dry_run=gate.dry_run,
            protect=[dumped["set_id"]],  # a run never deletes the backup it reports
        )

    restore_test = verified.get("restore_test")
    summary = {
        **gate.summary(),
        "backup": dumped["backup"],
        "size": human_bytes(dumped["size"]),
        "bytes": dumped["size"],
        "sha256": dumped["sha256"],
        "dump_seconds": dumped["dump_seconds"],
        "server_version": dumped["server_version"],
        "airflow_version": dumped["airflow_version"],
        "alembic_revision": dumped["alembic_revision"],
        "rows": dumped["rows"],
        "tables": dumped["tables"],
        "excluded_table_data": dumped["excluded_table_data"],
        "verified": {"sha256": verified.get("sha256_ok"), "toc_entries": verified.get("toc_entries")},
        "restore_test": (
            {"tables": restore_test["tables"], "mismatches": len(restore_test["mismatches"])}
            if restore_test
            else "off"
        ),
        "retention": {
            k: (list(v) if isinstance(v, dict) else v)
            for k, v in retention.items()
            if k in RETENTION_SUMMARY_KEYS
        },
        "kept": len(retention["kept"]),
        "fernet_key": fernet_fingerprint_line(dumped["fernet_key"]),
        "note": FERNET_NOTE,
    }
    title = "Metadata DB backup" + (" (retention dry run)" if retention["dry_run"] else "")
    summary = report(title, summary, slack_conn_id=optional_text(params, "slack_conn_id"), logger=log)
    gate.record()
    return summary

"""The metadata-DB cleanup DAG in the twin, chained on the real backup DAG through the Asset.

Everything runs in the real stack: the backup DAG (``platform_kit_metadb_backup``) verifies a dump and
emits ``METADB_BACKUP``; the scheduler creates the cleanup run; its task runs in a forked supervisor with
Airflow 3's DB block and reaches the DB only through the ``airflow_metadb`` connection. Old ``log`` rows
are planted with SQL (superuser) so the cleanup has something to purge and export to moto S3.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import psycopg
import pytest

pytestmark = pytest.mark.e2e

CLEANUP = "platform_kit_metadb_cleanup"
BACKUP = "platform_kit_metadb_backup"
BUCKET = "platform-kit-backups"


def _cleanup_runs(twin) -> list[dict]:
    return twin.dag_runs(CLEANUP)


def _triggering_runs(twin, run: dict) -> set[str]:
    """The backup run ids whose asset events this cleanup run consumed."""
    path = f"dags/{CLEANUP}/dagRuns/{quote(run['dag_run_id'], safe='')}/upstreamAssetEvents"
    return {event["source_run_id"] for event in twin.get(path)["asset_events"]}


def _wait_idle(twin, timeout: float = 600) -> None:
    """Let cleanup runs queued by earlier backups (other test modules) finish first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(run["state"] in ("success", "failed") for run in _cleanup_runs(twin)):
            return
        time.sleep(2)
    raise TimeoutError("earlier cleanup runs did not finish")


def _plant_old_log_rows(twin, count: int) -> str:
    marker = f"e2e_dbclean_{uuid.uuid4().hex[:8]}"
    old = datetime.now(UTC) - timedelta(days=400)
    with psycopg.connect(twin.metadb_dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO log (dttm, dag_id, event, extra) VALUES (%s, %s, 'e2e-planted', %s)",
            [(old + timedelta(minutes=i), marker, f"row {i}") for i in range(count)],
        )
    return marker


def _count_log(twin, marker: str) -> int:
    with psycopg.connect(twin.metadb_dsn) as conn:
        return conn.execute("SELECT count(*) FROM log WHERE dag_id = %s", (marker,)).fetchone()[0]


@pytest.fixture(scope="module")
def cleanup_unpaused(twin) -> None:
    twin.wait_for_dag(CLEANUP)
    # Confirmed as a deployment managed as code would: asset-triggered runs delete (unconfirmed, they are
    # dry runs; the README walkthrough test shows that one).
    twin.set_variable(f"{CLEANUP}_confirmed", "true", description="confirmed by the e2e tests")
    twin.unpause(CLEANUP)
    # Backups run by other modules may have queued asset events; let their runs appear and finish so
    # the assertions below only see runs this module causes.
    time.sleep(15)
    _wait_idle(twin)


def test_failed_backup_does_not_trigger_the_cleanup(twin, cleanup_unpaused):
    before = {run["dag_run_id"] for run in _cleanup_runs(twin)}

    run_id = twin.trigger(BACKUP, conf={"destination": "ftp://nowhere/metadb"})
    assert twin.wait_for_run(BACKUP, run_id, timeout=600)["state"] == "failed"
    time.sleep(20)  # several scheduler loops: an asset-triggered run would have been created by now

    assert twin.get("assets/events", source_dag_id=BACKUP, source_run_id=run_id)["asset_events"] == []
    assert {run["dag_run_id"] for run in _cleanup_runs(twin)} == before


def test_verified_backup_triggers_the_cleanup_which_purges_and_exports_old_rows(twin, cleanup_unpaused):
    marker = _plant_old_log_rows(twin, 25)
    before = {run["dag_run_id"] for run in _cleanup_runs(twin)}

    backup_run = twin.trigger(BACKUP, conf={"restore_test": False})
    assert twin.wait_for_run(BACKUP, backup_run, timeout=600)["state"] == "success"

    deadline = time.monotonic() + 180
    triggered: list[dict] = []
    while not triggered and time.monotonic() < deadline:
        new = [r for r in _cleanup_runs(twin) if r["dag_run_id"] not in before]
        triggered = [r for r in new if backup_run in _triggering_runs(twin, r)]
        time.sleep(2)
    assert triggered, "the verified backup did not trigger the cleanup through the Asset"
    run = twin.wait_for_run(CLEANUP, triggered[0]["dag_run_id"], timeout=600)
    run_id = run["dag_run_id"]
    assert run["run_type"] == "asset_triggered"
    assert run["state"] == "success", twin.task_log(CLEANUP, run_id, "clean")[-3000:]

    summary = twin.xcom(CLEANUP, run_id, "clean")
    assert _count_log(twin, marker) == 0
    assert summary["tables"]["log"]["status"] == "ok"
    assert summary["tables"]["log"]["deleted"] >= 25
    assert summary["failed_tables"] == [] and summary["dry_run"] is False
    assert "dag_version" not in summary["tables"] and "dag" not in summary["tables"]
    assert summary["db_size_before"] > 0 and summary["db_size_after"] > 0
    # Default archive mode: core's archive tables went to S3 as CSV (read back) and were dropped.
    export = summary["archive_export"]
    assert export["destination"].startswith(f"s3://{BUCKET}/db-clean-archives/")
    assert export["dropped"]
    key = export["files"]["log.csv"]["url"].split("/", 3)[3]
    body = twin.s3_client().get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert body.count(marker) == 25
    with psycopg.connect(twin.metadb_dsn) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_airflow\\_deleted\\_\\_%%'"
        )
        assert left.fetchone()[0] == 0

    log = twin.task_log(CLEANUP, run_id, "clean")
    assert "Metadata DB cleanup" in log and "Checking table log" in log
    password = psycopg.conninfo.conninfo_to_dict(twin.metadb_dsn)["password"]
    assert "airflow-db-not-allowed" not in log
    assert password not in log


def test_a_table_that_fails_fails_the_task_and_names_the_table(twin, cleanup_unpaused):
    """A least-privilege role that may not read ``import_error``: core would log a warning and exit 0."""
    role, secret = f"e2e_dbclean_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    dsn = psycopg.conninfo.conninfo_to_dict(twin.metadb_dsn)
    with psycopg.connect(twin.metadb_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'")
        conn.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
        conn.execute(f"GRANT SELECT, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        conn.execute(f"REVOKE SELECT ON import_error FROM {role}")
    twin.create_connection(
        {
            "connection_id": role,
            "conn_type": "postgres",
            "host": dsn["host"],
            "port": int(dsn["port"]),
            "login": role,
            "password": secret,
            "schema": dsn["dbname"],
        }
    )
    _wait_idle(twin)

    twin.clear_receiver()

    conf = {"metadb_conn_id": role, "tables": ["import_error", "log"], "archive": "skip"}
    run_id = twin.trigger(CLEANUP, conf={**conf, "slack_conn_id": "slack_default"})
    run = twin.wait_for_run(CLEANUP, run_id, timeout=600)

    assert run["state"] == "failed"
    log = twin.task_log(CLEANUP, run_id, "clean")
    assert "failed on 1 table(s) [import_error: permission denied for table import_error" in log
    assert "lacks a privilege" in log
    assert secret not in log
    # The failure summary also went to Slack (the twin's receiver), naming the table.
    posted = json.dumps(twin.receiver_messages())
    assert "Metadata DB cleanup FAILED" in posted and "permission denied for table import_error" in posted
    assert secret not in posted

"""The backup DAG in the twin: real scheduler, forked task supervisor with the DB block, moto S3 and the
GCS emulator. It backs the twin's own metadata DB up through the ``airflow_metadb`` connection, and the
restored copy must pass ``airflow db check-migrations`` with the same Airflow version."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.e2e

DAG_ID = "platform_kit_metadb_backup"
PLATFORM_KIT = str(Path(sys.executable).parent / "platform-kit")


@pytest.fixture(scope="module")
def scratch_conn(twin) -> str:
    """A postgres connection with CREATEDB (the twin's superuser) for the restore test's scratch DB."""
    conn_id = "e2e_backup_scratch"
    dsn = psycopg.conninfo.conninfo_to_dict(twin.metadb_dsn)
    twin.create_connection(
        {
            "connection_id": conn_id,
            "conn_type": "postgres",
            "host": dsn["host"],
            "port": int(dsn["port"]),
            "login": dsn["user"],
            "password": dsn["password"],
            "schema": "postgres",
        }
    )
    return conn_id


def _run(twin, conf: dict) -> tuple[str, dict]:
    run_id = twin.trigger(DAG_ID, conf=conf)
    run = twin.wait_for_run(DAG_ID, run_id, timeout=600)
    return run_id, run


def _states(twin, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in twin.task_instances(DAG_ID, run_id)}


@pytest.fixture(scope="module")
def s3_run(twin, scratch_conn) -> dict:
    # No destination Param: the Variable platform_kit_backup_url (s3://platform-kit-backups/metadb in
    # sandbox/airflow.env) is read when the task runs.
    run_id, run = _run(twin, {"restore_test": True, "restore_test_conn_id": scratch_conn})
    assert run["state"] == "success", _states(twin, run_id)
    return {"run_id": run_id, "summary": twin.xcom(DAG_ID, run_id, "retention")}


def test_dag_backs_up_to_s3_verifies_with_a_full_restore_test_and_emits_the_asset(twin, s3_run):
    summary = s3_run["summary"]
    assert summary["backup"].startswith("s3://platform-kit-backups/metadb/")
    assert summary["bytes"] > 10_000
    assert summary["rows"]["dag"] >= 1 and summary["rows"]["dag_run"] >= 1  # at least this very run
    assert summary["verified"]["sha256"] is True
    assert summary["restore_test"]["mismatches"] == 0 and summary["restore_test"]["tables"] > 40
    assert "same [core] fernet_key" in summary["note"]
    events = twin.get("assets/events", source_dag_id=DAG_ID, source_run_id=s3_run["run_id"])["asset_events"]
    assert [e["extra"].get("backup") for e in events] == [summary["backup"]]
    log = twin.task_log(DAG_ID, s3_run["run_id"], "retention")
    assert "Metadata DB backup" in log and summary["sha256"] in log


def test_dag_backs_up_to_gcs_and_posts_the_summary_to_slack(twin):
    twin.clear_receiver()
    run_id, run = _run(
        twin,
        {
            "destination": "gs://platform-kit-backups/metadb",
            "keep_daily": 3,
            "slack_conn_id": "slack_default",
        },
    )
    assert run["state"] == "success", _states(twin, run_id)
    summary = twin.xcom(DAG_ID, run_id, "retention")
    assert summary["backup"].startswith("gs://platform-kit-backups/metadb/")
    assert summary["verified"]["sha256"] is True
    posted = json.dumps([m["body"] for m in twin.receiver_messages()])
    assert "Metadata DB backup" in posted and summary["backup"] in posted and "fernet_key" in posted


def test_restored_s3_backup_passes_check_migrations(twin, s3_run):
    name = f"restored_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(twin.metadb_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = twin.metadb_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        # The operators' CLI with the twin's connections (aws_default points at the twin's moto).
        restored = subprocess.run(
            [
                PLATFORM_KIT,
                "backup",
                "restore",
                s3_run["summary"]["backup"],
                "--target-dsn",
                target,
                "--json",
            ],
            env=twin.airflow_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert restored.returncode == 0, restored.stderr[-2000:]
        out = restored.stdout
        result = json.loads(out if out.startswith("{") else out[out.index("\n{") + 1 :])
        assert result["mismatches"] == {}
        check = twin.airflow_cli(
            "db",
            "check-migrations",
            "--migration-wait-timeout",
            "10",
            env={
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": target.replace(
                    "postgresql://", "postgresql+psycopg2://", 1
                )
            },
            check=False,
        )
        assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
        with psycopg.connect(target) as conn:
            assert conn.execute("SELECT count(*) FROM dag WHERE dag_id = %s", (DAG_ID,)).fetchone()[0] == 1
    finally:
        with psycopg.connect(twin.metadb_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_bad_destination_fails_in_preflight_with_one_line_and_writes_nothing(twin):
    run_id, run = _run(twin, {"destination": "ftp://platform-kit-backups/metadb"})
    assert run["state"] == "failed"
    assert _states(twin, run_id) == {
        "preflight": "failed",
        "dump_and_upload": "upstream_failed",
        "verify": "upstream_failed",
        "retention": "upstream_failed",
    }
    log = twin.task_log(DAG_ID, run_id, "preflight")
    assert "unsupported storage scheme 'ftp'" in log and "use s3://bucket/prefix or gs://bucket/prefix" in log

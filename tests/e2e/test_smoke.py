"""The smoke test every supported Airflow minor runs (``-m smoke``; scripts/test's version matrix).

One run of each maintenance DAG on the twin, in its cheapest real form, and one failure alert: a DB
cleanup dry run that counts planted rows without deleting them, a backup through ``verify``, a log cleanup
dry run, an export read back with the CLI, and a failing example whose alert reaches the receiver. Each
goes through the real scheduler and a forked task supervisor with Airflow 3's DB block, so an internal
that moved between minors fails here instead of in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from platform_kit.storage.manifest import parse_set_id

pytestmark = [pytest.mark.e2e, pytest.mark.smoke]

BUCKET = "platform-kit-backups"
DAY = 86_400.0


def _run(twin, dag_id: str, conf: dict, task_id: str, timeout: float = 600) -> tuple[str, dict]:
    """Trigger ``dag_id``, wait, insist on success; (run id, the XCom summary of ``task_id``)."""
    run_id = twin.trigger(dag_id, conf=conf)
    run = twin.wait_for_run(dag_id, run_id, timeout=timeout)
    states = {ti["task_id"]: ti["state"] for ti in twin.task_instances(dag_id, run_id)}
    assert run["state"] == "success", (states, twin.task_log(dag_id, run_id, task_id)[-3000:])
    return run_id, twin.xcom(dag_id, run_id, task_id)


def test_db_cleanup_dry_run_counts_old_rows_and_deletes_nothing(twin):
    dag_id = "platform_kit_metadb_cleanup"
    marker = f"smoke_{uuid.uuid4().hex[:8]}"
    old = datetime.now(UTC) - timedelta(days=400)
    with psycopg.connect(twin.metadb_dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO log (dttm, dag_id, event) VALUES (%s, %s, 'smoke-planted')",
            [(old + timedelta(minutes=i), marker) for i in range(7)],
        )
    try:
        _, summary = _run(twin, dag_id, {"dry_run": True, "tables": ["log"], "retention_days": 30}, "clean")
    finally:
        # Paused again, so the backup below does not start an asset-triggered (real) cleanup.
        twin.api.patch(twin.url(f"dags/{dag_id}"), json={"is_paused": True}, timeout=120).raise_for_status()
    assert summary["dry_run"] is True
    assert summary["tables"]["log"]["status"] == "ok"
    assert summary["tables"]["log"]["matched"] >= 7  # counted through core's cleanup, on this minor
    assert summary["tables"]["log"]["deleted"] == 0
    with psycopg.connect(twin.metadb_dsn) as conn:
        left = conn.execute("SELECT count(*) FROM log WHERE dag_id = %s", (marker,)).fetchone()[0]
    assert left == 7


@pytest.fixture(scope="module")
def backup(twin) -> dict:
    """One backup run through verify and retention: what its ``dump_and_upload`` and ``retention`` said."""
    run_id, summary = _run(twin, "platform_kit_metadb_backup", {}, "retention")
    return {**twin.xcom("platform_kit_metadb_backup", run_id, "dump_and_upload"), "retention": summary}


def test_backup_is_uploaded_and_verified(twin, backup):
    summary = backup["retention"]
    assert summary["backup"].startswith(f"s3://{BUCKET}/metadb/")
    assert summary["verified"]["sha256"] is True
    assert summary["rows"]["dag_run"] >= 1
    backup_set = summary["backup"].split("/", 3)[3].rstrip("/")  # s3://bucket/<set> -> <set>
    manifest = twin.s3_client().get_object(Bucket=BUCKET, Key=f"{backup_set}/manifest.json")
    body = json.loads(manifest["Body"].read())
    assert body["sha256"] == summary["sha256"]
    version = twin.get("version")["version"]
    assert version in json.dumps(body)  # the manifest names the Airflow version that made it


def test_the_platform_page_and_metrics_read_this_minor_s_metadata_db(twin, backup):
    """The plugin's app on this minor's api-server: its auth dependencies, models and health reading."""
    page = twin.api.get(f"{twin.api_url}/platform-kit/", timeout=120)
    assert page.status_code == 200, page.text[-2000:]
    assert "platform_kit_metadb_backup" in page.text
    metrics = twin.api.get(f"{twin.api_url}/platform-kit/metrics", timeout=120)
    assert metrics.status_code == 200, metrics.text[-2000:]
    verified = [
        line
        for line in metrics.text.splitlines()
        if line.startswith("platform_kit_backup_last_verified_timestamp_seconds")
    ]
    taken = parse_set_id(backup["set_id"]).timestamp()  # "<timestamp>-<token>": one per run
    assert verified and float(verified[0].split()[-1]) == taken, verified
    healthy = [
        line for line in metrics.text.splitlines() if line.startswith("platform_kit_component_healthy")
    ]
    assert any('component="scheduler"' in line and line.endswith(" 1.0") for line in healthy), healthy


def test_log_cleanup_dry_run_reports_an_old_log_and_keeps_it(twin):
    old = Path(twin.log_folder) / "dag_id=smoke_lc/run_id=r1/task_id=t/attempt=1.log"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text("{}\n" * 40)
    stamp = time.time() - 60 * DAY
    os.utime(old, (stamp, stamp))
    _, summary = _run(twin, "platform_kit_log_cleanup", {"dry_run": True, "retention_days": 30}, "clean_logs")
    assert summary["dry_run"] is True
    assert summary["files_deleted"] >= 1 and summary["errors"] == 0
    assert "smoke_lc" in {entry["dag_id"] for entry in summary["top_dags"]}
    assert old.exists()


def test_export_reads_every_value_back_through_the_cli(twin, tmp_path):
    suffix = uuid.uuid4().hex[:6]
    variable, connection = f"smoke_var_{suffix}", f"smoke_conn_{suffix}"
    twin.set_variable(variable, f"value-{suffix}", description="smoke")
    twin.create_connection(
        {"connection_id": connection, "conn_type": "generic", "password": f"pw-{suffix}", "host": "h"}
    )
    prefix = f"smoke-export-{suffix}"
    _, summary = _run(twin, "platform_kit_export", {"destination": f"s3://{BUCKET}/{prefix}"}, "export")
    assert summary["encryption"].startswith("AES-256-GCM")

    # The operator's way back: the CLI from a shell with the two connections it needs in the environment.
    env = {
        "PATH": os.environ["PATH"],
        "AIRFLOW_HOME": str(tmp_path / "home"),
        **{
            k: twin.airflow_env[k]
            for k in ("AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_PLATFORM_KIT_EXPORT_KEY")
        },
    }
    cli = str(Path(sys.executable).parent / "platform-kit")
    argv = [cli, "export", "decrypt", summary["destination"], "--key-conn", "platform_kit_export_key"]
    result = subprocess.run([*argv, "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    variables = json.loads((tmp_path / "out" / "variables.json").read_text())
    connections = json.loads((tmp_path / "out" / "connections.json").read_text())
    assert variables[variable] == {"value": f"value-{suffix}", "description": "smoke"}
    assert connections[connection]["password"] == f"pw-{suffix}"


def test_a_failing_task_alerts_the_receiver(twin):
    dag_id = "example_platform_kit_alerting"
    run_id = twin.trigger(dag_id, conf={"fail": True})
    assert twin.wait_for_run(dag_id, run_id, timeout=300)["state"] == "failed"
    deadline = time.monotonic() + 120
    failures: list[dict] = []
    while not failures and time.monotonic() < deadline:
        failures = [
            m["body"]
            for m in twin.receiver_messages()
            if isinstance(m["body"], dict) and run_id in m["body"]["text"] and "Failed:" in m["body"]["text"]
        ]
        time.sleep(1)
    assert failures, [m["body"] for m in twin.receiver_messages()][-5:]
    assert failures[0]["blocks"][0]["text"]["text"].startswith(f"\U0001f534 Failed: {dag_id}.")
    assert "orders feed returned HTTP 503" in failures[0]["text"]  # the task's own error, on every minor

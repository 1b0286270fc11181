"""The health monitor's dead man's switch, end to end from a plain shell: no Prometheus, no Airflow.

``platform-kit health watch`` runs from a plain shell (empty ``HOME``, no Airflow home) with only what the
README tells an operator to set (the Slack and S3 connections as ``AIRFLOW_CONN_*``, the backup Variable
as ``AIRFLOW_VAR_*``), against moto's S3 server and the Slack receiver, with the api-server unreachable:
the switch must speak even then. The bucket first holds a verified backup from two days ago (and a newer,
unfinished set that must not count): one "no fresh backup" alert. Then an operator takes a real backup
with ``platform-kit backup create``: one "fresh backup" message, naming it. Nothing repeats while the
state holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from plain_shell import plain_shell
from storage_conns import aws_conn_json
from waiting import wait_for

from platform_kit.storage import build_manifest, list_sets, new_set_id, open_store, write_manifest
from twin.pgcluster import free_port

pytestmark = pytest.mark.integration


def _readme_variables(moto_url: str, receiver_url: str, backup_url: str) -> dict[str, str]:
    """What the README has an operator export: the Slack and S3 connections, the backup Variable."""
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": aws_conn_json(moto_url),
        "AIRFLOW_CONN_SLACK_DEFAULT": json.dumps(
            {"conn_type": "slackwebhook", "password": f"{receiver_url}/services/T0/B0/deadman"}
        ),
        "AIRFLOW_VAR_PLATFORM_KIT_BACKUP_URL": backup_url,
    }


def _plant_old_verified_backup(env: dict[str, str], url: str) -> str:
    """A complete, verified set taken two days ago, and a newer set without a manifest (unfinished)."""
    old = os.environ.copy()
    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")})
    try:
        store, dest = open_store(url)
        set_id = new_set_id(datetime.now(UTC) - timedelta(days=2))
        set_url = dest.child(set_id)
        dump = store.put_bytes(set_url.key("metadb.dump"), b"old dump")
        manifest = build_manifest("metadb-backup", set_id, [dump], verification={"ok": True})
        write_manifest(store, set_url, manifest)
        store.put_bytes(dest.child(new_set_id()).key("metadb.dump"), b"unfinished")  # no manifest
        assert [s.set_id for s in list_sets(store, dest) if s.verified] == [set_id]
        return set_id
    finally:
        os.environ.clear()
        os.environ.update(old)


def _messages(receiver, word: str) -> list[str]:
    texts = [m["body"].get("text", "") for m in receiver.state.messages if isinstance(m["body"], dict)]
    return [t for t in texts if word in t]


def test_stale_backups_alert_once_and_a_fresh_backup_is_announced_once(
    tmp_path, moto_server, s3_bucket, slack_receiver, pg, pg_database
):
    url = f"s3://{s3_bucket}/metadb"
    pg.psql(
        "CREATE TABLE dag_run AS SELECT g AS id FROM generate_series(1, 100) g",
        pg_database.rsplit("/", 1)[-1],
    )
    variables = _readme_variables(moto_server.url, slack_receiver.url, url)
    shell = plain_shell(tmp_path)
    old_set = _plant_old_verified_backup(variables, url)
    closed_port = free_port()
    watch = subprocess.Popen(
        [
            *(str(shell.bin_dir / "platform-kit"), "health", "watch"),
            *("--api-url", f"http://127.0.0.1:{closed_port}"),
            *("--interval", "0.5", "--backup-interval", "1", "--backup-max-age-hours", "26"),
        ],
        env=shell.environment(variables),
        cwd=shell.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        stale = wait_for(
            lambda: _messages(slack_receiver, "No fresh verified Airflow backup"),
            90,
            "the alert",
            interval=0.5,
        )
        assert len(stale) == 1
        assert old_set in stale[0] and "limit 26 h" in stale[0]

        # An operator takes a backup by hand, the way the README says, with the same connections.
        created = shell.run("backup", "create", "--to", url, "--dsn", pg_database, "--json", env=variables)
        assert created.returncode == 0, created.stderr[-2000:]
        new_set = json.loads(created.stdout[created.stdout.index("{") :])["backup"].rsplit("/", 1)[-1]

        fresh = wait_for(
            lambda: _messages(slack_receiver, "Fresh verified Airflow backup"),
            90,
            "the recovery",
            interval=0.5,
        )
        assert len(fresh) == 1 and new_set in fresh[0]
        time.sleep(3)  # several more checks: no repeats while the state holds
        assert len(_messages(slack_receiver, "No fresh verified Airflow backup")) == 1
        assert len(_messages(slack_receiver, "Fresh verified Airflow backup")) == 1
        assert _messages(slack_receiver, "Cannot read the Airflow backups") == []
    finally:
        watch.terminate()
        output = watch.communicate(timeout=30)[0]
    assert "dead man's switch on: " + url in output  # says what it watches
    assert "deadman" not in output and "testing" not in output  # no webhook token, no S3 secret in the log

"""Remote logging in the twin, end to end: task logs live in the S3 emulator, the API (what the UI calls)
reads a finished task's log back from there once its local copy is gone, and the log cleanup DAG expires
remote logs by per-DAG retention while keeping the fresh ones and everything that is not its to judge.

The emulator stamps uploads with the current time, so the "expired" logs are real task logs given a
one-minute remote retention, and the test waits (polling, not sleeping blindly) until they are older.
"""

from __future__ import annotations

import json
import time

import pytest

from twin.remote_logs import log_folder, task_log_key, wait_for_remote_logs

pytestmark = pytest.mark.e2e

CLEANUP = "platform_kit_log_cleanup"
KEPT = "e2e_remote_logs_kept"
EXPIRING = "e2e_remote_logs_expiring"
ONE_MINUTE_IN_DAYS = 1 / 1440


@pytest.fixture(scope="module")
def runs(twin) -> dict:
    """A finished run of each e2e DAG with its logs in the bucket, and planted objects around them."""
    bucket, prefix = log_folder()
    s3 = twin.s3_client()
    untouchable = [
        f"{prefix}-archive/dag_id={EXPIRING}/run_id=old/task_id=say/attempt=1.log",  # outside the folder
        f"{prefix}/notes/dag_id={EXPIRING}/attempt=1.log",  # inside, outside Airflow's layout
        f"{prefix}/dag_id={EXPIRING}/run_id=planted/task_id=say/notes.txt",  # not a log
    ]
    planted = f"{prefix}/dag_id={EXPIRING}/run_id=planted/task_id=say/attempt=1.log"
    for key in [*untouchable, planted]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"planted\n")
    run_ids = {dag_id: twin.trigger(dag_id) for dag_id in (KEPT, EXPIRING)}
    logs = {}
    for dag_id, run_id in run_ids.items():
        assert twin.wait_for_run(dag_id, run_id, timeout=300)["state"] == "success"
        logs[dag_id] = wait_for_remote_logs(twin, dag_id, run_id)
    return {
        "bucket": bucket,
        "run_ids": run_ids,
        "logs": logs,
        "untouchable": untouchable,
        "planted": planted,
    }


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(1)


def test_a_finished_tasks_log_comes_back_from_the_bucket_once_its_local_copy_is_gone(twin, runs):
    run_id = runs["run_ids"][KEPT]
    local = twin.log_folder / f"dag_id={KEPT}" / f"run_id={run_id}" / "task_id=say" / "attempt=1.log"
    _wait(lambda: not local.exists(), 60, f"{local} still exists: delete_local_logs did not remove it")
    key = task_log_key(KEPT, run_id, "say")
    assert f"remote-log-marker {KEPT} {run_id}" in runs["logs"][KEPT][key]

    entries = twin.task_log_entries(KEPT, run_id, "say")

    events = [str(entry.get("event", "")) for entry in entries]
    assert f"s3://{runs['bucket']}/{key}" in events  # the log's source, as the UI lists it
    assert any(f"remote-log-marker {KEPT} {run_id}" in event for event in events)
    assert "remote-log-marker map 1" in twin.task_log(KEPT, run_id, "each", map_index=1)


def test_the_cleanup_dag_expires_remote_logs_by_per_dag_retention_and_keeps_the_rest(twin, runs):
    bucket, s3 = runs["bucket"], twin.s3_client()
    expiring = [*sorted(runs["logs"][EXPIRING]), runs["planted"]]
    kept = sorted(runs["logs"][KEPT]) + runs["untouchable"]
    newest = max(s3.head_object(Bucket=bucket, Key=key)["LastModified"].timestamp() for key in expiring)
    # One minute of remote retention (and the one-minute guard) for EXPIRING; KEPT keeps the default 30 days.
    _wait(lambda: time.time() > newest + 65, 120, "the expiring logs did not age")
    conf = {
        "remote_dag_retention": {EXPIRING: ONE_MINUTE_IN_DAYS},
        "min_age_minutes": 1,
        "slack_conn_id": "slack_default",
    }
    twin.clear_receiver()

    dry = _cleanup(twin, {**conf, "dry_run": True})
    assert _existing(s3, bucket, expiring + kept) == set(expiring + kept)
    real = _cleanup(twin, conf)

    assert _existing(s3, bucket, expiring + kept) == set(kept)
    for summary in (dry, real):
        assert (
            summary["roots"] == [f"s3://{bucket}/{log_folder()[1]}"]
            and summary["connection"] == "aws_default"
        )
        assert summary["files_deleted"] == len(expiring) == 4 and summary["errors"] == 0
        # Top DAGs by size over the whole bucket (the session's other runs log there too): only EXPIRING
        # lost anything.
        top = summary["top_dags"]
        assert [d["bytes"] for d in top] == sorted((d["bytes"] for d in top), reverse=True)
        assert {d["dag_id"] for d in top if d["bytes_freed"]} <= {EXPIRING}
        assert (
            summary["skipped_other_files"] >= 2 and "outside Airflow's log layout" in summary["warnings"][0]
        )
    assert (dry["dry_run"], real["dry_run"]) == (True, False)
    posted = json.dumps([message["body"] for message in twin.receiver_messages()])
    assert "Remote log cleanup (dry run)" in posted and "Remote log cleanup" in posted and EXPIRING in posted


def _cleanup(twin, conf: dict) -> dict:
    run_id = twin.trigger(CLEANUP, conf=conf)
    dag_run = twin.wait_for_run(CLEANUP, run_id, timeout=300)
    states = {ti["task_id"]: ti["state"] for ti in twin.task_instances(CLEANUP, run_id)}
    assert dag_run["state"] == "success", (
        states,
        twin.task_log(CLEANUP, run_id, "clean_remote_logs")[-3000:],
    )
    assert states == {"clean_logs": "success", "clean_remote_logs": "success"}
    return twin.xcom(CLEANUP, run_id, "clean_remote_logs")


def _existing(s3, bucket: str, keys: list[str]) -> set[str]:
    found = set()
    for key in keys:
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except s3.exceptions.ClientError:
            continue
        found.add(key)
    return found

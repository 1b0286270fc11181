"""The log cleanup DAG in the twin: real scheduler, forked task supervisor with the DB block, real log folder.

Old logs are planted in the stack's own ``base_log_folder`` next to the fresh logs Airflow writes
itself; the DAG reads that folder from the worker's configuration at run time.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from twin.remote_logs import task_log_key, wait_for_remote_logs

pytestmark = pytest.mark.e2e

DAG_ID = "platform_kit_log_cleanup"
DAY = 86_400.0
#: Big enough to rank among the top DAGs by size next to the logs the session's other runs wrote.
BIG = 3_000_000


def plant(root: Path, relative: str, age: float, size: int = 100) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{}\n" * (size // 3))
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def age_tree(top: Path, age: float) -> None:
    """Make ``top`` and the folders below it old (as after a month without writes)."""
    stamp = time.time() - age
    for dirpath, _, _ in os.walk(top, topdown=False):
        os.utime(dirpath, (stamp, stamp))


def run(twin, conf: dict) -> tuple[dict, dict]:
    run_id = twin.trigger(DAG_ID, conf=conf)
    dag_run = twin.wait_for_run(DAG_ID, run_id, timeout=300)
    assert dag_run["state"] == "success", twin.task_log(DAG_ID, run_id, "clean_logs")[-3000:]
    return dag_run, twin.xcom(DAG_ID, run_id, "clean_logs")


def test_the_dag_deletes_old_logs_keeps_fresh_ones_and_reports(twin):
    logs = Path(twin.log_folder)
    old = [
        plant(
            logs,
            "dag_id=e2e_lc_etl/run_id=manual__2026-01-01T00:00:00+00:00/task_id=load/attempt=1.log",
            40 * DAY,
            size=BIG,
        ),
        plant(
            logs,
            "dag_id=e2e_lc_etl/run_id=manual__2026-01-01T00:00:00+00:00/task_id=load/attempt=2.log",
            39 * DAY,
            size=BIG,
        ),
        plant(logs, "dag_id=e2e_lc_noisy/run_id=r1/task_id=t/map_index=0/attempt=1.log", 4 * DAY, size=BIG),
        plant(logs, "dag_id=e2e_lc_etl/run_id=r2/task_id=wait/attempt=1.log.trigger.9.log", 35 * DAY),
        plant(logs, "dag_processor/2020-01-01/platform-kit/e2e_lc_dag.py.log", 10 * DAY),
    ]
    kept = [
        plant(logs, "dag_id=e2e_lc_etl/run_id=r3/task_id=load/attempt=1.log", 2 * DAY),
        plant(logs, "dag_id=e2e_lc_noisy/run_id=r2/task_id=t/attempt=1.log", 2 * DAY),
        plant(logs, "dag_id=e2e_lc_audit/run_id=r1/task_id=t/attempt=1.log", 200 * DAY),
        plant(logs, "dag_id=e2e_lc_etl/run_id=r2/task_id=wait/notes.txt", 90 * DAY),
    ]
    for top in (
        "dag_id=e2e_lc_etl",
        "dag_id=e2e_lc_noisy",
        "dag_id=e2e_lc_audit",
        "dag_processor/2020-01-01",
    ):
        age_tree(logs / top, 60 * DAY)
    conf = {
        "retention_days": 30,
        "dag_retention": {"e2e_lc_noisy": 3, "e2e_lc_audit": 365},
        "dag_processor_retention_days": 7,
    }
    sizes = {p: p.stat().st_size for p in old + kept}
    planted_bytes = sum(sizes[p] for p in old)

    twin.clear_receiver()
    _, dry = run(twin, {**conf, "dry_run": True, "slack_conn_id": "slack_default"})

    assert dry["dry_run"] is True
    assert all(p.exists() for p in old + kept)
    assert dry["files_deleted"] == len(old)
    assert dry["bytes_deleted"] == planted_bytes
    posted = json.dumps([m["body"] for m in twin.receiver_messages()])
    assert "Log cleanup (dry run)" in posted and "e2e_lc_etl" in posted

    dag_run, summary = run(twin, conf)

    assert [p for p in old if p.exists()] == []
    assert all(p.exists() for p in kept)
    assert summary["roots"] == [str(logs.resolve())]
    assert summary["dry_run"] is False
    assert summary["errors"] == 0
    assert summary["files_deleted"] == len(old)
    assert summary["bytes_deleted"] == planted_bytes
    by_dag = {entry["dag_id"]: entry for entry in summary["top_dags"]}
    assert by_dag["e2e_lc_noisy"]["files_deleted"] == 1 and by_dag["e2e_lc_etl"]["files_deleted"] == 3
    assert by_dag["(dag-processor)"]["files_deleted"] == 1
    # Top by size: what the DAG's *.log files took before the run, and what the run freed of it.
    etl_logs = [p for p in old + kept if "dag_id=e2e_lc_etl" in str(p) and p.name.endswith(".log")]
    assert by_dag["e2e_lc_etl"]["bytes"] == sum(sizes[p] for p in etl_logs)
    assert by_dag["e2e_lc_etl"]["bytes_freed"] == sum(sizes[p] for p in etl_logs if p in old)
    # Emptied folders went; Airflow's own fresh logs (this very run's included) and the latest link stayed.
    assert not (logs / "dag_id=e2e_lc_noisy/run_id=r1").exists()
    assert not (logs / "dag_processor/2020-01-01").exists()
    assert summary["dirs_removed"] >= 6
    assert summary["skipped_recent"] >= 1
    # The run's own log survived its cleanup: remote logging shipped it to the bucket when the task ended.
    run_id = dag_run["dag_run_id"]
    own_log = wait_for_remote_logs(twin, DAG_ID, run_id)[task_log_key(DAG_ID, run_id, "clean_logs")]
    assert "Log cleanup" in own_log and "files_deleted" in own_log
    latest = logs / "dag_processor" / "latest"
    assert latest.is_symlink() and latest.resolve().is_dir()
    for key in ("files_deleted", "bytes_deleted", "dirs_removed", "errors", "policy"):
        assert summary[key] == dry[key], key
    dry_by_dag = {entry["dag_id"]: entry for entry in dry["top_dags"]}
    for dag_id in ("e2e_lc_noisy", "e2e_lc_etl"):  # Airflow's own logs grow between the two runs
        assert by_dag[dag_id] == dry_by_dag[dag_id], dag_id


def test_bad_params_fail_the_run_in_one_line_and_delete_nothing(twin):
    logs = Path(twin.log_folder)
    victim = plant(logs, "dag_id=e2e_lc_bad/run_id=r/task_id=t/attempt=1.log", 90 * DAY)
    run_id = twin.trigger(DAG_ID, conf={"retention_days": 0, "retention_hours": 0})
    dag_run = twin.wait_for_run(DAG_ID, run_id, timeout=300)
    assert dag_run["state"] == "failed"
    assert victim.exists()
    assert "retention must be longer than zero" in twin.task_log(DAG_ID, run_id, "clean_logs")


def test_undeletable_files_fail_the_run_after_reporting_unless_told_otherwise(twin):
    logs = Path(twin.log_folder)
    stuck = plant(logs, "dag_id=e2e_lc_stuck/run_id=r/task_id=t/attempt=1.log", 90 * DAY)
    gone = plant(logs, "dag_id=e2e_lc_stuck/run_id=r2/task_id=t/attempt=1.log", 90 * DAY)
    made = subprocess.run(["chattr", "+i", str(stuck)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a file undeletable here: {made.stderr.strip()}")
    try:
        run_id = twin.trigger(DAG_ID, conf={})
        dag_run = twin.wait_for_run(DAG_ID, run_id, timeout=300)
        assert dag_run["state"] == "failed"
        summary = twin.xcom(DAG_ID, run_id, "clean_logs")
        assert summary["errors"] == 1 and "Operation not permitted" in summary["error_samples"][0]
        assert stuck.exists() and not gone.exists()
        assert "log cleanup finished with 1 errors" in twin.task_log(DAG_ID, run_id, "clean_logs")

        _, tolerated = run(twin, {"fail_on_errors": False})
        assert tolerated["errors"] == 1
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=False)

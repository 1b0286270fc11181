"""The Platform page's reading of a real Airflow metadata DB in PostgreSQL.

A database is migrated with ``airflow db migrate``, and ``status_fill.py --scenario mixed`` writes, through
Airflow's own models, the bundle's maintenance DAGs and these runs (times relative to the fill):

* backup: verified 50 h ago (success); verified 30 h ago but retention failed (run failed; its XComs
  stored as serialized text, the other path Airflow stores them by); failed in ``dump_and_upload`` 2 h ago;
* log cleanup: success 20 h ago, and 3 h ago with the log volume 91 % full;
* DB cleanup: success 5 h ago; export: never ran, paused. The others are unpaused.

The reading is then taken in this process with the kit's own code on that DB, and checked against what
those runs mean: which run is the newest, the last success and the newest verified backup, the verdicts
and their rules, and the metrics.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from airflow_env import migrated_metadata_db
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from platform_kit.dbclean import url_from_dsn
from platform_kit.status.collect import read_status
from platform_kit.status.metrics import StatusCollector, exposition
from platform_kit.status.page import render
from platform_kit.status.verdicts import judge, verdict

# matrix: the Platform page reads this minor's models (one fill serves the four tests).
pytestmark = [pytest.mark.integration, pytest.mark.matrix]

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def filled(pg, migrated_metadb, tmp_path_factory) -> dict:
    name = f"status_{uuid.uuid4().hex[:8]}"
    fill = [str(HERE / "status_fill.py"), "--scenario", "mixed"]
    dsn, printed = migrated_metadata_db(
        pg, name, tmp_path_factory.mktemp("airflow-home"), fill, template=migrated_metadb
    )
    result = json.loads(printed.strip().splitlines()[-1])
    engine = create_engine(url_from_dsn(dsn))
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with Session(engine) as session:
        status = read_status(session, now=datetime.fromisoformat(result["now"]))
    engine.dispose()
    yield {"status": status, "runs": result["runs"], "statements": statements}
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dag(filled, dag_id):
    return next(d for d in filled["status"].dags if d.dag_id == dag_id)


def test_the_newest_run_the_last_success_and_the_newest_verified_backup_are_told_apart(filled):
    backup = _dag(filled, "platform_kit_metadb_backup")
    runs = filled["runs"]
    assert backup.deployed and backup.paused is False
    assert backup.last_run.run.run_id == runs["backup_failed"] and backup.last_run.run.state == "failed"
    assert [t.task_id for t in backup.last_run.failed_tasks] == ["dump_and_upload", "retention", "verify"]
    assert backup.last_success.run.run_id == runs["backup_ok"]
    assert backup.last_verified.run.run_id == runs["backup_verified"]
    # Its summaries were stored as serialized text: read all the same, and only the kit's tasks'.
    assert set(backup.last_verified.summaries) == {"dump_and_upload", "verify"}
    assert backup.last_verified.task("retention").state == "failed"


def test_verdicts_rules_and_summaries_from_the_real_rows(filled):
    status = filled["status"]
    now = status.generated_at
    rules = {d.dag_id: [(f.level, f.rule) for f in judge(d, now)] for d in status.dags}
    assert rules["platform_kit_metadb_backup"] == [
        ("red", "no verified backup in 26 h (newest taken 30 h ago)"),
        ("red", "last run failed 1 h 55 min ago in dump_and_upload"),
    ]
    assert rules["platform_kit_log_cleanup"] == [("amber", "log volume on worker-1 91 % full")]
    assert rules["platform_kit_export"] == [("amber", "paused: nothing runs"), ("amber", "never ran")]
    assert verdict(judge(_dag(filled, "platform_kit_metadb_cleanup"), now)) == "green"
    html = render(status, {d.dag_id: judge(d, now) for d in status.dags})
    assert "deleted 10,230 rows" in html and "task_instance 8,000" in html
    assert "deleted 10 files (2.0 KiB)" in html  # the newest log cleanup, not the older one


def test_metrics_from_the_real_rows(filled):
    status = filled["status"]
    findings = {d.dag_id: judge(d, status.generated_at) for d in status.dags}
    body, _ = exposition(StatusCollector(status, findings))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    backup = _dag(filled, "platform_kit_metadb_backup")
    assert samples[("platform_kit_backup_last_verified_timestamp_seconds", ())] == (
        datetime.strptime(backup.last_verified.summaries["dump_and_upload"]["set_id"], "%Y%m%dT%H%M%SZ")
        .replace(tzinfo=backup.last_verified.run.start_date.tzinfo)
        .timestamp()
    )
    assert (
        samples[("platform_kit_dag_last_run_state", (("dag_id", "platform_kit_export"), ("state", "none")))]
        == 1
    )
    assert samples[("platform_kit_db_cleanup_last_deleted_rows", (("table", "dag_run"),))] == 1200


def test_a_reading_is_a_fixed_handful_of_statements_and_one_xcom_read(filled):
    statements = filled["statements"]
    assert len(statements) == 4, statements  # DAG rows, runs, task instances, summaries
    xcom = [s for s in statements if " xcom" in s.lower()]
    assert len(xcom) == 1 and "dag_run_id IN" in xcom[0].replace("xcom.dag_run_id IN", "dag_run_id IN")

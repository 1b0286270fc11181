"""Fill an Airflow metadata DB with maintenance-DAG history for the Platform page and its benchmark.

Run as a script in a child interpreter whose environment points ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` at a
migrated database (the ORM is allowed there: this is not a task). The bundle's four maintenance DAGs are
parsed and synced the way the dag-processor does it, and runs are made with Airflow's own
``create_dagrun``; task states and the summaries the tasks return are then written as a real run leaves
them (XCom through ``XComModel.set``).

* ``--scenario mixed``: a few runs in the states ``tests/integration/test_status_collect.py`` checks.
* ``--bench``: a year of daily maintenance runs, then ``--dags`` other DAGs with ``--task-instances``
  task instances between them, bulk-copied in SQL from rows Airflow wrote (so every column is valid on
  any Airflow version).

Times are relative to ``--now`` (ISO, default: the current time), printed back as JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

import status_samples as samples  # noqa: E402

BACKUP, LOG, EXPORT, DBCLEAN = (
    "platform_kit_metadb_backup",
    "platform_kit_log_cleanup",
    "platform_kit_export",
    "platform_kit_metadb_cleanup",
)


def sync_maintenance_dags(session) -> None:
    """Parse ``dags/maintenance`` and write the DAGs to the DB as the dag-processor does."""
    from airflow.models.dagbundle import DagBundleModel

    from platform_kit.version_compat import bundle_dag_bag, sync_bag_to_db

    folder = REPO / "dags" / "maintenance"
    bag = bundle_dag_bag(folder, "platform-kit", safe_mode=False)
    assert not bag.import_errors, bag.import_errors
    if session.get(DagBundleModel, "platform-kit") is None:
        session.add(DagBundleModel(name="platform-kit"))
        session.flush()
    sync_bag_to_db()(bag, "platform-kit", None, session=session)


_DAGS: dict[str, Any] = {}


def add_run(
    session,
    dag_id: str,
    when: datetime,
    state: str,
    *,
    tasks: dict[str, str] | None = None,
    xcoms: dict[str, dict[str, Any]] | None = None,
    serialize: bool = False,
    minutes: float = 5,
) -> str:
    """One run of ``dag_id`` started at ``when``: every task ``success`` unless ``tasks`` says otherwise.

    :param xcoms: ``{task_id: return value}``.
    :param serialize: store values as ``XComModel.serialize_value`` text instead of JSON objects (both
        occur: values pushed through the Execution API are stored as objects).
    """
    from airflow.models import DagRun, TaskInstance
    from airflow.models.dagbag import DBDagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import update

    if dag_id not in _DAGS:  # deserialising a DAG costs more than making a run of it
        _DAGS[dag_id] = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
    dag = _DAGS[dag_id]
    run_id = f"manual__{when.isoformat()}"
    end = when + timedelta(minutes=minutes)
    # No logical date, as runs triggered from the UI or REST have: a task instance is then made for every
    # task even when ``when`` is before the DAG's start_date (a year of history is).
    run = dag.create_dagrun(
        run_id=run_id,
        logical_date=None,
        data_interval=None,
        run_after=when,
        run_type=DagRunType.MANUAL,
        triggered_by=DagRunTriggeredByType.TEST,
        # Queued first, as every triggered run is: a DAG with a queued-at deadline (the backup's) reads
        # the run's queued_at when the run is made, and 3.1 fails on a run that was never queued.
        state="queued",
        start_date=when,
        session=session,
    )
    session.flush()
    # create_dagrun made one task instance per task; give each the state a finished run leaves.
    for task_id in [t.task_id for t in dag.tasks]:
        task_state = (tasks or {}).get(task_id, "success")
        finished = task_state in ("success", "failed")
        session.execute(
            update(TaskInstance)
            .where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
            )
            .values(
                state=task_state,
                start_date=when if finished else None,
                end_date=end if finished else None,
                try_number=1 if finished else 0,
            )
        )
    for task_id, value in (xcoms or {}).items():
        # The row itself, stored as given: XComModel.set serialises on 3.1 and takes serialize= from 3.2.
        session.add(
            XComModel(
                dag_run_id=run.id,
                key="return_value",
                value=XComModel.serialize_value(value) if serialize else value,
                run_id=run_id,
                task_id=task_id,
                dag_id=dag_id,
                map_index=-1,
            )
        )
    finished_run = state in ("success", "failed")
    session.execute(
        update(DagRun)
        .where(DagRun.id == run.id)
        .values(state=state, queued_at=when, start_date=when, end_date=end if finished_run else None)
    )
    session.flush()
    return run_id


def backup_xcoms(taken: datetime, *, restore_test: bool = True) -> dict[str, dict]:
    dump = samples.backup_dump(taken)
    return {
        "dump_and_upload": dump,
        "verify": samples.backup_verify(taken + timedelta(minutes=3), restore_test=restore_test),
        "retention": samples.backup_retention(dump),
    }


def scenario_mixed(session, now: datetime) -> dict[str, Any]:
    """The states the integration test expects (see its module docstring)."""
    from airflow.models.dag import DagModel
    from sqlalchemy import update

    ago = lambda hours: now - timedelta(hours=hours)  # noqa: E731
    runs = {}
    # Backup: verified 50 h ago; verified 30 h ago but retention failed; the newest failed in the dump.
    runs["backup_ok"] = add_run(session, BACKUP, ago(50), "success", xcoms=backup_xcoms(ago(50)))
    verified = backup_xcoms(ago(30), restore_test=False)
    del verified["retention"]
    runs["backup_verified"] = add_run(
        session, BACKUP, ago(30), "failed", tasks={"retention": "failed"}, xcoms=verified, serialize=True
    )
    runs["backup_failed"] = add_run(
        session,
        BACKUP,
        ago(2),
        "failed",
        tasks={"dump_and_upload": "failed", "verify": "upstream_failed", "retention": "upstream_failed"},
    )
    # Log cleanup: a real run 20 h ago, then one 3 h ago that found the volume 91 % full.
    runs["log_old"] = add_run(session, LOG, ago(20), "success", xcoms={"clean_logs": samples.log_cleanup()})
    runs["log_new"] = add_run(
        session,
        LOG,
        ago(3),
        "success",
        xcoms={"clean_logs": samples.log_cleanup(files=10, size=2048, used_percent=91.0)},
    )
    # DB cleanup: one run 5 h ago, active.
    runs["dbclean"] = add_run(
        session,
        DBCLEAN,
        ago(5),
        "success",
        xcoms={"clean": samples.db_cleanup({"task_instance": 8000, "dag_run": 1200, "log": 1030})},
    )
    # Export never ran and stays paused; the others are switched on.
    session.execute(update(DagModel).where(DagModel.dag_id != EXPORT).values(is_paused=False))
    return runs


def bench_fill(session, now: datetime, days: int, dags: int, task_instances: int) -> dict[str, Any]:
    """A year of daily maintenance runs, then filler DAGs and task instances copied in bulk SQL."""
    from airflow.models.dag import DagModel
    from sqlalchemy import text, update

    session.execute(update(DagModel).values(is_paused=False))  # a platform that runs its maintenance

    for day in range(days, 0, -1):
        when = now - timedelta(days=day, hours=-2)
        add_run(session, BACKUP, when, "success", xcoms=backup_xcoms(when))
        add_run(
            session, LOG, when + timedelta(minutes=10), "success", xcoms={"clean_logs": samples.log_cleanup()}
        )
        add_run(session, EXPORT, when + timedelta(minutes=20), "success", xcoms={"export": samples.export()})
        add_run(
            session,
            DBCLEAN,
            when + timedelta(minutes=30),
            "success",
            xcoms={"clean": samples.db_cleanup({"task_instance": 800, "log": 300})},
        )
        if day % 30 == 0:
            session.commit()
    session.commit()

    def columns(table: str) -> list[str]:
        sql = (
            "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
            "ORDER BY ordinal_position"
        )
        return [row[0] for row in session.execute(text(sql), {"t": table})]

    def clone(table: str, template: str, overrides: dict[str, str], series: str) -> None:
        """Copy the rows matching ``template`` once per row of ``series``, with some columns replaced."""
        cols = columns(table)
        select = ", ".join(overrides.get(c, f"t.{c}") for c in cols)
        insert = f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select}"
        session.execute(text(f"{insert} FROM {table} t, {series} WHERE {template}"))

    runs_per_dag = 20
    tasks_per_run = max(task_instances // (dags * runs_per_dag), 1)
    # Filler DAGs: copies of the export DAG's row under new ids.
    clone("dag", f"t.dag_id = '{EXPORT}'", {"dag_id": "'filler_' || n"}, f"generate_series(1, {dags}) AS n")
    # Runs: copies of one export run, one per filler DAG and day.
    template_run = session.execute(text(f"SELECT max(id) FROM dag_run WHERE dag_id = '{EXPORT}'")).scalar()
    clone(
        "dag_run",
        f"t.id = {template_run}",
        {
            "id": "nextval('dag_run_id_seq')",
            "dag_id": "'filler_' || d",
            "run_id": "'scheduled__' || r",
            "logical_date": "t.logical_date - r * interval '1 day'",
            "run_after": "t.run_after - r * interval '1 day'",
            "start_date": "t.start_date - r * interval '1 day'",
            "end_date": "t.end_date - r * interval '1 day'",
        },
        f"generate_series(1, {dags}) AS d, generate_series(1, {runs_per_dag}) AS r",
    )
    template_ti = (
        f"t.dag_id = '{EXPORT}' AND t.run_id = (SELECT run_id FROM dag_run WHERE id = {template_run})"
    )
    clone(
        "task_instance",
        template_ti,
        {
            "id": "gen_random_uuid()",
            "dag_id": "'filler_' || d",
            "run_id": "'scheduled__' || r",
            "task_id": "'task_' || k",
            "start_date": "t.start_date - r * interval '1 day'",
            "end_date": "t.end_date - r * interval '1 day'",
        },
        f"generate_series(1, {dags}) AS d, generate_series(1, {runs_per_dag}) AS r, "
        f"generate_series(1, {tasks_per_run}) AS k",
    )
    # One XCom per filler task instance: a scan of the xcom table would cost what it costs in production.
    session.execute(
        text(
            "INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp) "
            "SELECT dr.id, ti.task_id, ti.map_index, 'return_value', ti.dag_id, ti.run_id, "
            "'{\"rows\": 1}'::jsonb, now() FROM task_instance ti "
            "JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id "
            "WHERE ti.dag_id LIKE 'filler_%'"
        )
    )
    session.commit()
    session.execute(text("ANALYZE"))
    counts = {
        table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
        for table in ("dag", "dag_run", "task_instance", "xcom")
    }
    return {"counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["mixed"])
    parser.add_argument("--bench", action="store_true")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--task-instances", type=int, default=100_000)
    parser.add_argument("--now", help="ISO time the history is relative to (default: now)")
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)

    from airflow.utils.session import create_session

    with create_session() as session:
        sync_maintenance_dags(session)
    with create_session() as session:
        if args.scenario == "mixed":
            result: dict[str, Any] = {"runs": scenario_mixed(session, now)}
        elif args.bench:
            result = bench_fill(session, now, args.days, args.dags, args.task_instances)
        else:
            result = {}
    print(json.dumps({"now": now.isoformat(), **result}))


if __name__ == "__main__":
    main()

"""Fill an Airflow metadata DB with old history, through Airflow's own models.

Run as a script in a child interpreter whose environment points ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` at
a migrated database (the ORM is allowed there: this is not a task). It parses a small DAG file, syncs it to
the DB the way the dag-processor does, then creates scheduled and manual runs spread over the past
``--days`` days with task instances, XComs and ``log`` rows whose timestamps match each run's date.

Usage: ``python dbclean_fill.py --dags 3 --runs 40 --days 120``.
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
from datetime import timedelta
from pathlib import Path

DAG_TEMPLATE = """
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

for n in range({dags}):
    with DAG(f"fill_dag_{{n}}", schedule="@daily", start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
             catchup=False) as dag:
        extract, transform = EmptyOperator(task_id="extract"), EmptyOperator(task_id="transform")
        extract >> transform >> EmptyOperator(task_id="load")
    globals()[f"dag_{{n}}"] = dag
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dags", type=int, default=3)
    parser.add_argument("--runs", type=int, default=40, help="scheduled runs per DAG")
    parser.add_argument("--days", type=int, default=120, help="spread the runs over this many past days")
    parser.add_argument(
        "--stale-dags",
        type=int,
        default=1,
        help="the last N DAGs have every run in the older half of the window (all beyond a short retention)",
    )
    args = parser.parse_args()

    from airflow._shared.timezones import timezone
    from airflow.models import DagRun, Log, TaskInstance
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select, update

    from platform_kit.version_compat import bundle_dag_bag, sync_bag_to_db

    folder = Path(tempfile.mkdtemp(prefix="dbclean-fill-"))
    (folder / "fill_dags.py").write_text(textwrap.dedent(DAG_TEMPLATE.format(dags=args.dags)))
    bag = bundle_dag_bag(folder, "dags-folder")
    assert not bag.import_errors, bag.import_errors
    with create_session() as session:
        if session.get(DagBundleModel, "dags-folder") is None:
            session.add(DagBundleModel(name="dags-folder"))
    with create_session() as session:
        sync_bag_to_db()(bag, "dags-folder", None, session=session)

    now = timezone.utcnow()
    with create_session() as session:
        db_bag = DBDagBag()
        dag_ids = sorted(bag.dags)
        for number, dag_id in enumerate(dag_ids):
            dag = db_bag.get_latest_version_of_dag(dag_id, session=session)
            stale = number >= len(dag_ids) - args.stale_dags
            # A stale DAG's runs are squeezed into the older half of the window, so with a short
            # retention every one of them is old and only "keep the last scheduled run" saves one.
            span = timedelta(days=args.days) / (2 if stale else 1)
            step = span / args.runs
            start = now - timedelta(days=args.days)
            for i in range(args.runs + 1):
                # The extra run is MANUAL and the newest of its DAG: core never keeps manual runs.
                manual = i == args.runs
                run_type = DagRunType.MANUAL if manual else DagRunType.SCHEDULED
                when = start + step * (i - 1) + timedelta(hours=1) if manual else start + step * i
                run = dag.create_dagrun(
                    run_id=DagRun.generate_run_id(run_type=run_type, logical_date=when, run_after=when),
                    logical_date=when,
                    data_interval=(when - timedelta(days=1), when),
                    run_after=when,
                    run_type=run_type,
                    triggered_by=DagRunTriggeredByType.TEST,
                    state=DagRunState.SUCCESS,
                    start_date=when,
                    session=session,
                )
                session.flush()
                session.execute(
                    update(TaskInstance)
                    .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
                    .values(
                        state=TaskInstanceState.SUCCESS,
                        start_date=when,
                        end_date=when + timedelta(minutes=1),
                        try_number=1,
                    )
                )
                if i % 5 == 0:
                    # A task that never started (start_date NULL): core's task_instance pass cannot
                    # select it, so it goes only by foreign-key cascade when its run is purged.
                    session.execute(
                        update(TaskInstance)
                        .where(
                            TaskInstance.dag_id == dag_id,
                            TaskInstance.run_id == run.run_id,
                            TaskInstance.task_id == "load",
                        )
                        .values(state=TaskInstanceState.UPSTREAM_FAILED, start_date=None, end_date=None)
                    )
                session.execute(
                    update(DagRun).where(DagRun.id == run.id).values(end_date=when + timedelta(minutes=5))
                )
                tis = session.scalars(
                    select(TaskInstance).where(
                        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id
                    )
                ).all()
                for ti in tis:
                    XComModel.set(
                        key="return_value",
                        value={"rows": i},
                        dag_id=dag_id,
                        task_id=ti.task_id,
                        run_id=run.run_id,
                        session=session,
                    )
                    for event in ("running", "success"):
                        entry = Log(event=event, task_instance=ti)
                        entry.dttm = when
                        session.add(entry)
                session.flush()
                session.execute(
                    update(XComModel)
                    .where(XComModel.dag_id == dag_id, XComModel.run_id == run.run_id)
                    .values(timestamp=when)
                )
    print(f"filled {len(bag.dags)} dags x {args.runs + 1} runs")


if __name__ == "__main__":
    main()

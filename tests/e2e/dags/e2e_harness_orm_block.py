"""e2e-only DAG: proves the harness runs tasks under Airflow 3's task DB block.

``touch_orm`` opens an ORM session the way Airflow 2 era maintenance DAGs did. In production (and in the
twin) this must fail; under ``dag.test()`` it would succeed, which is why the e2e tier exists.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

with DAG(
    dag_id="e2e_harness_orm_block",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["e2e"],
    default_args={"owner": "platform", "retries": 0},
    doc_md=__doc__,
):

    @task
    def touch_orm() -> int:
        from airflow.models import DagRun
        from airflow.utils.session import create_session

        with create_session() as session:
            return session.query(DagRun).count()

    @task
    def read_environment() -> str:
        import os

        return os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")

    touch_orm()
    read_environment()

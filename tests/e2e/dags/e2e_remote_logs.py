"""e2e-only DAGs whose task logs go to the twin's remote log bucket (remote logging).

Two identical DAGs, so that one cleanup run can give one of them a short remote retention and keep the
other's logs: ``say`` logs a marker naming its run, ``each`` is mapped (``map_index=N/`` in the key).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

for dag_id in ("e2e_remote_logs_kept", "e2e_remote_logs_expiring"):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["e2e"],
        default_args={"owner": "platform", "retries": 0},
        doc_md=__doc__,
    ) as dag:

        @task
        def say(dag_run=None) -> None:
            print(f"remote-log-marker {dag_run.dag_id} {dag_run.run_id}")

        @task
        def each(index: int) -> int:
            print(f"remote-log-marker map {index}")
            return index

        say() >> each.expand(index=[0, 1])
    globals()[dag_id] = dag

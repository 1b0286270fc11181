"""e2e-only DAG: a task that fails every try, with a DAG-level failure callback.

Expected alerts: a retry alert for try 1, one failure alert for try 2 (its log link opens that try's
log), and one DAG-level failure alert sent by the dag-processor.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from platform_kit.alerts import on_failure_callback, on_retry_callback

with DAG(
    dag_id="e2e_alerts_exhaust",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["e2e", "team:e2e_alerts"],
    default_args={
        "owner": "platform",
        "retries": 1,
        # Not shorter: with remote logging and [logging] delete_local_logs (as in the twin), the finished
        # try's supervisor uploads its log and then removes the task's whole log folder, taking a retry's
        # log that has already started there with it (Airflow's S3RemoteLogIO.upload).
        "retry_delay": timedelta(seconds=15),
        "on_failure_callback": on_failure_callback,
        "on_retry_callback": on_retry_callback,
    },
    on_failure_callback=on_failure_callback,
    doc_md=__doc__,
):

    @task
    def always_fails() -> None:
        raise RuntimeError("e2e exhausted: quota <100%> & still failing")

    @task
    def succeeds() -> str:
        return "ok"

    always_fails()
    succeeds()

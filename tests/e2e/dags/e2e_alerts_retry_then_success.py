"""e2e-only DAG: a task that fails its first try and succeeds on the retry.

Expected alerts: one retry alert ("Retrying after try 1 of 2"), no failure alert, and one recovery alert.
The tag ``team:e2e_alerts`` routes them to the connection ``slack_e2e_alerts`` the test creates.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, get_current_context, task

from platform_kit.alerts import on_failure_callback, on_retry_callback, on_success_callback

with DAG(
    dag_id="e2e_alerts_retry_then_success",
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
        "on_success_callback": on_success_callback,
    },
    doc_md=__doc__,
):

    @task
    def flaky() -> str:
        if get_current_context()["ti"].try_number == 1:
            raise ConnectionError("warehouse <primary> unreachable & retrying")
        return "ok"

    flaky()

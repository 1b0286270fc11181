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
        "retry_delay": timedelta(seconds=1),
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

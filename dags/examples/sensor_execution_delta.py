"""Reactive wait on an upstream that runs 5 minutes earlier: ``ExternalTaskSensor(execution_delta=...)``."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.sdk import DAG, task

DOC = """
### Reactive wait, upstream 5 minutes earlier: `execution_delta`

Runs at 06:05 UTC on weekdays; `example_platform_kit_sensor_upstream` runs at 06:00. The logical dates
differ by 5 minutes, so the sensor looks for the upstream run at **its own logical date minus
`execution_delta`** (a positive `timedelta` means "earlier").

**When to use it:** both DAGs have the same frequency and a fixed offset between them.

**Watch for**
- The sensor does not wait for "the latest upstream run": if the offset is wrong it waits for a run
  that never exists, until the timeout. Check the dates in the sensor's log ("Poking for tasks ... on").
- Offsets are between **logical dates**. In Airflow 3 a cron schedule's logical date is the time it
  runs; under `create_cron_data_intervals=True` (the Airflow 2 behaviour) it is the start of the
  interval, which shifts both DAGs alike for equal schedules but not for different ones.
- `execution_delta` and `execution_date_fn` are mutually exclusive.
- Deferrable (polls in the triggerer every 30 s; needs a triggerer), `timeout=3600` instead of the
  7-day default, `failed_states` so a failed upstream fails this run at once, `retries=0`.
"""

with DAG(
    dag_id="example_platform_kit_sensor_execution_delta",
    description="ExternalTaskSensor on an upstream that runs 5 minutes earlier (execution_delta).",
    doc_md=DOC,
    schedule="5 6 * * 1-5",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["example", "platform-kit"],
    default_args={"owner": "platform"},
):
    wait_for_publish = ExternalTaskSensor(
        task_id="wait_for_publish",
        external_dag_id="example_platform_kit_sensor_upstream",
        external_task_id="publish",
        execution_delta=timedelta(minutes=5),
        allowed_states=["success"],
        failed_states=["failed", "upstream_failed"],
        deferrable=True,
        poke_interval=30,
        timeout=60 * 60,
        retries=0,
    )

    @task
    def process() -> str:
        return "upstream published 5 minutes earlier; processing"

    wait_for_publish >> process()

"""Reactive wait, same schedule: ``ExternalTaskSensor`` in reschedule mode and in deferrable mode."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.sdk import DAG, task

UPSTREAM_DAG_ID = "example_platform_kit_sensor_upstream"
UPSTREAM_TASK_ID = "publish"

DOC = """
### Reactive wait on the same schedule: `ExternalTaskSensor`

Runs on the **same schedule** as `example_platform_kit_sensor_upstream` (weekdays 06:00 UTC), so both
runs share a logical date and the sensor needs no date arithmetic. It waits for `publish` in that run,
then `process` runs.

The same wait is written twice to compare the two ways of waiting; a real DAG uses one:
- `wait_reschedule` (`mode="reschedule"`, poke every 60 s): between pokes the task gives its worker
  slot back and sits in `up_for_reschedule`; each poke is a new, short task process.
- `wait_deferrable` (`deferrable=True`, poll every 30 s): the wait moves to the **triggerer**, an
  asyncio process that handles thousands of waits cheaply. Needs a running triggerer: without one the
  task stays `deferred` until its timeout.

Prefer deferrable when you run a triggerer (the compose sandbox and the twin do). Use reschedule when
you cannot, and never the default `mode="poke"` for long waits: it blocks a worker slot the whole time.

**When to use it:** the downstream DAG depends on the upstream but the upstream should not know about
it (the upstream team owns their DAG; several consumers). The reverse of `TriggerDagRunOperator`.

**Watch for**
- `timeout=3600`: the default is 7 days. On timeout the sensor fails without retrying.
- `failed_states=["failed", "upstream_failed"]`: without it a failed upstream is not an answer, the
  sensor keeps waiting until the timeout. With it, the sensor fails on its next poke.
- `retries=0`: a retry would start the whole wait again.
- Both DAGs must produce the **same logical date**. Manual runs do not (see the upstream's notes);
  in Airflow 3 a cron schedule's logical date is the time it runs (`create_cron_data_intervals=False`).
- A run without a logical date (REST `logical_date: null`) makes the sensor match on `run_after`.
"""

SENSOR_ARGS = {
    "external_dag_id": UPSTREAM_DAG_ID,
    "external_task_id": UPSTREAM_TASK_ID,
    "allowed_states": ["success"],
    "failed_states": ["failed", "upstream_failed"],
    "timeout": 60 * 60,
    "retries": 0,
}

with DAG(
    dag_id="example_platform_kit_sensor_same_schedule",
    description="ExternalTaskSensor on the same schedule: reschedule mode vs deferrable.",
    doc_md=DOC,
    schedule="0 6 * * 1-5",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["example", "platform-kit"],
    default_args={"owner": "platform"},
):
    wait_reschedule = ExternalTaskSensor(
        task_id="wait_reschedule", mode="reschedule", poke_interval=60, **SENSOR_ARGS
    )
    wait_deferrable = ExternalTaskSensor(
        task_id="wait_deferrable", deferrable=True, poke_interval=30, **SENSOR_ARGS
    )

    @task
    def process() -> str:
        return "upstream published; processing"

    [wait_reschedule, wait_deferrable] >> process()

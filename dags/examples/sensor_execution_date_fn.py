"""Reactive wait with a mapping function: ``ExternalTaskSensor(execution_date_fn=...)``."""

from __future__ import annotations

from datetime import datetime, timedelta

import pendulum
from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.sdk import DAG, task

UPSTREAM_HOUR_UTC = 6
SATURDAY = 5


def latest_weekday_upstream_run(logical_date: datetime) -> datetime:
    """Map this DAG's logical date to the upstream run it depends on.

    The upstream runs Monday to Friday at 06:00 UTC. On a weekday that is the same day's 06:00 run; on
    Saturday and Sunday it is Friday's. Returns one date; returning a list waits for all of them.
    """
    day = logical_date.date()
    if day.weekday() >= SATURDAY:
        day -= timedelta(days=day.weekday() - 4)
    return datetime(day.year, day.month, day.day, UPSTREAM_HOUR_UTC, tzinfo=logical_date.tzinfo)


DOC = """
### Reactive wait with a mapping function: `execution_date_fn`

Runs **every day** at 07:00 UTC, but `example_platform_kit_sensor_upstream` runs only on weekdays at
06:00. No fixed offset fits, so `latest_weekday_upstream_run` maps each logical date to the upstream run
to wait for: the same day's 06:00 run on weekdays, Friday's on the weekend.

**When to use it:** the schedules differ in frequency or shape (daily vs weekdays, hourly vs daily).
The function may return a **list** of dates; the sensor then waits until all those runs have reached
the allowed state, e.g. the 24 hourly runs of the previous day.

**Watch for**
- The function receives this run's logical date (or `run_after` for runs without one) as its first
  argument and may take context keys as keyword arguments; it must return aware UTC datetimes that
  match the upstream's logical dates **exactly** (to the second).
- It runs on the worker when the sensor starts (also in deferrable mode), never at parse time. Keep it
  pure: no Variable or API reads.
- The mapping assumes the Airflow 3 default `create_cron_data_intervals=False` (logical date = run time).
- Deferrable (needs a triggerer), `timeout=3600`, `failed_states`, `retries=0`, as in the other cases.
"""

with DAG(
    dag_id="example_platform_kit_sensor_execution_date_fn",
    description="ExternalTaskSensor with execution_date_fn: daily DAG waiting for a weekday-only upstream.",
    doc_md=DOC,
    schedule="0 7 * * *",
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
        execution_date_fn=latest_weekday_upstream_run,
        allowed_states=["success"],
        failed_states=["failed", "upstream_failed"],
        deferrable=True,
        poke_interval=30,
        timeout=60 * 60,
        retries=0,
    )

    @task
    def process() -> str:
        return "latest weekday upstream run published; processing"

    wait_for_publish >> process()

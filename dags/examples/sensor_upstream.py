"""Upstream of the ExternalTaskSensor examples: weekdays at 06:00 UTC; the sensors wait for ``publish``."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task

DOC = """
### Upstream for the `ExternalTaskSensor` examples

Runs on weekdays at 06:00 UTC: `extract` then `publish`. Three downstream DAGs wait for `publish`:
- `example_platform_kit_sensor_same_schedule` (same schedule, same logical date),
- `example_platform_kit_sensor_execution_delta` (runs 5 minutes later: `execution_delta`),
- `example_platform_kit_sensor_execution_date_fn` (daily, also on weekends: `execution_date_fn`).

**Params**
- `fail`: make `publish` fail, to watch the downstream sensors fail fast through `failed_states`
  instead of waiting out their timeout. Default `false`.

**Watch for**
- This DAG knows nothing about its waiters. Renaming `publish` or this `dag_id` silently breaks them:
  they keep waiting until their timeout (`check_existence` is not evaluated by the Airflow 3 code path).
- Sensors match on the **logical date**. A manual trigger gets a logical date of "now" (or none), which
  no scheduled downstream run will ever match; pick the logical date when triggering by hand.
"""

with DAG(
    dag_id="example_platform_kit_sensor_upstream",
    description="Upstream of the ExternalTaskSensor examples; set Param fail to make it fail.",
    doc_md=DOC,
    schedule="0 6 * * 1-5",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["example", "platform-kit"],
    default_args={"owner": "platform"},
    params={
        "fail": Param(
            False, type="boolean", description="Make `publish` fail so the downstream sensors fail fast."
        ),
    },
):

    @task
    def extract() -> int:
        """Stand-in for real work; returns a row count."""
        return 42

    # retries=0: a retry of a failure on purpose would only delay what the sensors show.
    @task(retries=0)
    def publish(rows: int) -> dict:
        """The task the sensors wait for; fails on purpose when Param ``fail`` is true."""
        if get_current_context()["params"]["fail"]:
            raise RuntimeError("publish failed on purpose (Param fail=true); trigger with fail=false to pass")
        return {"rows": rows}

    publish(extract())

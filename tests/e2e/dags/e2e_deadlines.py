"""e2e-only DAGs for missed-deadline alerts, with deadlines in seconds so the test stays short.

- ``e2e_deadline_late``: 10 s after the run is queued; the task works ``work_seconds`` (25 by default)
  and fails at the end when ``fail`` is set. Expected: one missed-deadline alert, then one finished-late
  follow-up with the final state.
- ``e2e_deadline_in_time``: 60 s after queued, for a task that returns at once. Expected: no message.

Both carry the tag ``team:e2e_deadlines``: alerts go to connection ``slack_e2e_deadlines``, which the test
creates in the metadata DB, so the triggerer finds it through the Execution API. Neither DAG completes
its deadline itself: the kit's cluster policy (entry point) writes the tags into the callback's kwargs.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from platform_kit.alerts import deadline

COMMON = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    "tags": ["e2e", "team:e2e_deadlines"],
    "default_args": {"owner": "platform"},
    "doc_md": __doc__,
}

with DAG(
    dag_id="e2e_deadline_late",
    deadline=deadline(seconds=10),
    params={"work_seconds": Param(25, type="integer", minimum=0), "fail": Param(False, type="boolean")},
    **COMMON,
):

    @task
    def slow_step(params: dict | None = None) -> None:
        import time

        time.sleep(int(params["work_seconds"]))
        if params["fail"]:
            raise RuntimeError("e2e: failed after missing its deadline")

    slow_step()


with DAG(dag_id="e2e_deadline_in_time", deadline=deadline(seconds=60), **COMMON):

    @task
    def quick_step() -> str:
        return "done"

    quick_step()

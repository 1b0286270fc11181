"""
### Deadlines: an alert when a run is late, a follow-up when it ends

**When to use it.** "The nightly load must be done by 07:00", "the backup should not run for more than
two hours". Airflow 3 removed SLAs; *Deadline Alerts* replace them, and `platform_kit.alerts.deadline`
declares one in one line, with the kit's alert as the callback:

```python
from platform_kit.alerts import deadline

DAG(..., deadline=deadline(hours=2))  # done 2 h after the run was queued
DAG(..., schedule="@daily", deadline=deadline(hours=7, reference="logical_date"))  # by 07:00
```

When a run is not done by its deadline, the **triggerer** sends one "missed its deadline" alert (the run,
the deadline and what it counts from, how late, the state now, a link to the run), routed like every
platform-kit alert (tag `team:<name>` or the owner -> connection `slack_<name>`, else `slack_default`).
It then watches the run and, when it ends, sends one "finished late" follow-up with the final state and
the total duration. A run that finishes in time sends nothing. See `docs/alerting.md`.

**Try it.** This DAG's deadline is one minute after a run is queued. Trigger it with `work_seconds` 90:
about a minute later the missed-deadline alert appears (in the sandbox on the Slack receiver page,
http://127.0.0.1:8090/), and the follow-up when the task ends. Tick `fail` to see the follow-up of a run
that failed late. Trigger with `work_seconds` 5: no message.

**Watch for.**
- The callback runs in the triggerer: install the package and make the Slack connection visible there.
- `reference="logical_date"` needs a logical date: manual runs triggered without one get no deadline.
- A run that fails *before* its deadline still gets the missed-deadline alert when the deadline passes
  (Airflow only drops the deadline of a run that succeeded in time); it says the run ended failed.
- Several deadlines on one DAG (a warning at 1 h, a page at 2 h): pass a list; each alerts once, and
  only the earliest sends the follow-up.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from platform_kit.alerts import deadline

with DAG(
    dag_id="example_platform_kit_deadline",
    description="A run that outlives its one-minute deadline: missed-deadline alert, then a follow-up.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["example", "platform-kit", "alerting"],
    default_args={"owner": "platform"},
    deadline=deadline(
        minutes=1, reference="queued", note="Runbook: docs/alerting.md#deadlines-missed-deadline-sla-alerts"
    ),
    params={
        "work_seconds": Param(
            90, type="integer", minimum=0, maximum=3600, description="How long the task works."
        ),
        "fail": Param(False, type="boolean", description="Fail at the end (a run that failed late)."),
    },
    doc_md=__doc__,
):

    @task
    def slow_step(params: dict | None = None) -> int:
        import time

        seconds = int((params or {}).get("work_seconds", 0))
        time.sleep(seconds)
        if params and params["fail"]:
            raise RuntimeError(f"gave up after {seconds} s")
        return seconds

    slow_step()

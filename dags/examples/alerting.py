"""
### Alerting: Slack alerts on failure, retry and recovery

**When to use it.** Every DAG a platform team runs should tell someone when it fails. This example wires the
platform-kit callbacks the two ways a DAG can:

- **Task level** (`default_args`): `on_failure_callback` alerts once a task has failed for good,
  `on_retry_callback` says a retry is coming (worded as a retry, without mentions), and
  `on_success_callback` speaks only when a task succeeds after a failure (a recovery). These run in the
  worker, right after the task.
- **DAG level** (`DAG(on_failure_callback=SlackNotifier(...))`): one message per failed run, sent by the
  **dag-processor**, listing the failed tasks. The Slack connection must resolve there too.

Alerts go to the connection of the DAG's team (tag `team:<name>` or the owner -> `slack_<name>`), else
`slack_default`; `SlackNotifier(conn_id=...)` overrides that. See `docs/alerting.md`.

**Try it.** Trigger with `fail` ticked: try 1 fails and you get a retry alert, try 2 fails and you get one
failure alert with a link to that try's log, then the DAG-level alert. In the sandbox the messages appear on
the Slack receiver page (http://127.0.0.1:8090/). Trigger again with `fail` unticked for a recovery alert.

**Watch for.**
- A retry alert is not a failure: do not page on it.
- The DAG-level callback has no exception in its context (Airflow gives only the reason); the task-level
  alert carries the error.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task

from platform_kit.alerts import SlackNotifier, on_failure_callback, on_retry_callback, on_success_callback

with DAG(
    dag_id="example_platform_kit_alerting",
    description="Attach platform-kit Slack alerts at task and DAG level; fails on demand to show them.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["example", "platform-kit", "alerting"],
    default_args={
        "owner": "platform",
        "retries": 1,
        # 30 s, not less: with remote logging and [logging] delete_local_logs, the finished try's log upload
        # removes the task's local log folder, and a retry already writing there would lose its log.
        "retry_delay": timedelta(seconds=30),
        "on_failure_callback": on_failure_callback,
        "on_retry_callback": on_retry_callback,
        "on_success_callback": on_success_callback,
    },
    on_failure_callback=SlackNotifier(),
    params={
        "fail": Param(False, type="boolean", description="Make the task fail (to see the alerts)."),
    },
    doc_md=__doc__,
):

    @task
    def load_orders(params: dict | None = None) -> int:
        if params and params["fail"]:
            raise RuntimeError("orders feed returned HTTP 503: upstream API is down")
        return 42

    load_orders()

"""The modern alternative to trigger and sensor: a producer updates an Asset, a consumer runs on it."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, get_current_context, task

#: What the producer publishes; Airflow only tracks its name. No URI on purpose: an Asset with a URI
#: scheme makes Airflow load every provider's URI handlers (boto3 included) each time this file is parsed.
REPORT = Asset(name="example_platform_kit_report")

PRODUCER_DOC = """
### Asset producer

`publish_report` declares `outlets=[REPORT]`: when it **succeeds**, Airflow records an asset event (with
the `extra` the task attached) and every DAG scheduled on the asset gets a run
(`example_platform_kit_asset_consumer`). A failed or skipped task emits nothing.

**When an Asset beats trigger and sensor**
- Neither side names the other: the producer does not list its consumers (unlike
  `TriggerDagRunOperator`) and the consumer does not guess the producer's logical dates or task ids
  (unlike `ExternalTaskSensor`). Renaming a task breaks nothing.
- Nothing waits: no sensor slot, no triggerer, no timeout to tune; the scheduler creates the consumer
  run when the event arrives, whenever the producer ran (scheduled, manual, backfill).
- Schedules may differ freely; a consumer can wait for several assets (`schedule=[a, b]` or `a & b`,
  `a | b`), and the UI shows the lineage.

**Prefer the others when** the parent must wait for the child's result and fail with it (trigger with
`wait_for_completion`), must pass run-specific `conf` to one specific run, or when you cannot change the
upstream DAG to declare an outlet (sensor).

**Watch for**
- Only a **successful** task with the outlet emits an event; a run that fails before it triggers nothing.
- The event carries `extra` (small JSON) for the consumer; keep data itself in storage, not in the event.
"""

CONSUMER_DOC = """
### Asset consumer

`schedule=[REPORT]`: a run is created after each update of `example_platform_kit_report` (several
updates before the consumer starts are folded into one run, all listed in `triggering_asset_events`).

**Watch for**
- Asset-triggered runs have **no logical date**: `{{ ds }}` / `{{ logical_date }}` are undefined.
  Use `dag_run.run_after` or the event's timestamp, as `use_report` does.
- The consumer must be **unpaused** when the event arrives to get a run for it.
- The producer's metadata travels in the event's `extra` (small JSON), not in XCom.
"""

_COMMON = {
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    "is_paused_upon_creation": True,
    "tags": ["example", "platform-kit"],
    "default_args": {"owner": "platform"},
}

with DAG(
    dag_id="example_platform_kit_asset_producer",
    description="Updates the example report Asset; the consumer DAG runs after each update.",
    doc_md=PRODUCER_DOC,
    schedule=None,
    **_COMMON,
):

    @task(outlets=[REPORT])
    def publish_report() -> dict:
        """Produce the report and attach what the consumer needs to the asset event."""
        context = get_current_context()
        summary = {"rows": 42, "produced_by": f"{context['dag'].dag_id}/{context['run_id']}"}
        context["outlet_events"][REPORT].extra = summary
        return summary

    publish_report()


with DAG(
    dag_id="example_platform_kit_asset_consumer",
    description="Runs after each update of the example report Asset.",
    doc_md=CONSUMER_DOC,
    schedule=[REPORT],
    **_COMMON,
):

    @task
    def use_report() -> list[dict]:
        """Log and return the asset events that triggered this run."""
        context = get_current_context()
        events = [
            {
                "source": f"{event.source_dag_id}/{event.source_run_id}",
                "extra": dict(event.extra or {}),
                "timestamp": event.timestamp.isoformat(),
            }
            for event in context["triggering_asset_events"][REPORT]
        ]
        print(f"use_report: run_after={context['dag_run'].run_after.isoformat()} events={events}")
        return events

    use_report()

"""Explicit trigger: a controller DAG triggers the target DAG with ``conf`` and waits for it (deferrable)."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, get_current_context, task

from platform_kit.version_compat import airflow_version_text, trigger_fails_on_paused_target

TARGET_DAG_ID = "example_platform_kit_trigger_target"

DOC = """
### Explicit trigger: `TriggerDagRunOperator`

The controller **knows** that the target must run after it, so it triggers the target itself, hands it
a `conf`, and waits until the target run has finished. The controller's run fails if the target run fails.

**When to use it:** the upstream owns the decision ("after a load, run the report"), you want to pass
run-specific values along, and one clear parent run per child run. Prefer an Asset (see
`example_platform_kit_asset_producer`) when the upstream should not know who consumes its output.

**Params**
- `path`: sent to the target in `conf` (the target reads it as `params.path`).

**How it is set up and why**
- `logical_date="{{ dag_run.logical_date or dag_run.run_after }}"`: in Airflow 3 a run may have **no
  logical date** (REST trigger with `logical_date: null`, asset-triggered runs); then `{{ ds }}` /
  `{{ logical_date }}` are undefined and the task fails with `UndefinedError`. `run_after` is always set.
  Deriving the target's date from the controller's run makes the trigger **idempotent**: rerunning the
  controller's task finds the same target run (`manual__<date>`) instead of creating a new one.
- `reset_dag_run=True`: when that target run already exists (a retry or a cleared controller task), it
  is cleared and run again instead of failing with "Dag Run already exists". The target's `conf` is
  **not** replaced on reset: a rerun keeps the first run's `conf`.
- `wait_for_completion=True, deferrable=True`: the wait happens in the **triggerer** (polling every
  `poke_interval` seconds), so no worker slot is held. Without a running triggerer the task stays
  `deferred` forever. `deferrable=True` without `wait_for_completion` is ignored.
- `fail_when_dag_is_paused=True`: the target is created paused like every example; without this the
  controller would wait forever on a run that never starts. With it, the task fails at once with
  `Dag <id> is paused`: unpause the target and clear the task. It needs Airflow 3.2+ and
  `apache-airflow-providers-standard` 1.14+ (the operator asks the execution API for the target's
  state); on older versions it is left off: **unpause the target before you trigger the controller**.
  {paused_check}
- The `report` task reads the XCom `trigger_run_id` the operator pushes and logs what ran.

**Watch for**
- `execution_date=` is gone (use `logical_date=`); a fixed `logical_date` that already exists for the
  target without `reset_dag_run` fails the task.
- Leaving `logical_date` unset is the other valid choice (the branch examples do): every try then
  creates a new target run dated "now", so reruns never collide but `reset_dag_run` has nothing to reset.
- Two controllers that derive the same logical date for the same target collide: a DAG has at most one
  run per logical date, so the second controller finds the first one's run and (with `reset_dag_run`)
  clears and reruns it, with the first one's `conf`. Leave `logical_date` unset in that case.
- In Airflow 3 the operator does not create the run itself: it raises `DagRunTriggerException` and the
  task runner asks the API server to create it. Unit tests calling `execute()` see that exception.
"""
PAUSED_CHECK = (
    "On this Airflow ({version}) the paused check is **on**."
    if trigger_fails_on_paused_target()
    else "On this Airflow ({version}) the paused check is **off** (needs Airflow 3.2+ and standard 1.14+)."
)

with DAG(
    dag_id="example_platform_kit_trigger_controller",
    description="Explicit trigger: triggers the target DAG with conf and waits for it (deferrable).",
    doc_md=DOC.replace("{paused_check}", PAUSED_CHECK.format(version=airflow_version_text())),
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["example", "platform-kit"],
    default_args={"owner": "platform"},
    params={
        "path": Param("/opt/ml/conf", type="string", description="Sent to the target in conf as `path`."),
    },
):
    trigger_target = TriggerDagRunOperator(
        task_id="trigger_target",
        trigger_dag_id=TARGET_DAG_ID,
        conf={"path": "{{ params.path }}", "source": "{{ dag.dag_id }}/{{ run_id }}"},
        logical_date="{{ dag_run.logical_date or dag_run.run_after }}",
        reset_dag_run=True,
        wait_for_completion=True,
        deferrable=True,
        poke_interval=10,
        # Off where the operator cannot check (it raises NotImplementedError at parse time there).
        fail_when_dag_is_paused=trigger_fails_on_paused_target(),
    )

    @task
    def report() -> dict:
        """Log and return which target run was triggered; runs only after that run succeeded."""
        ti = get_current_context()["ti"]
        run_id = ti.xcom_pull(task_ids="trigger_target", key="trigger_run_id")
        summary = {"target_dag_id": TARGET_DAG_ID, "target_run_id": run_id, "target_state": "success"}
        print(f"report: {summary}")
        return summary

    trigger_target >> report()

"""Branching on the Variable ``mode``: ``BranchPythonOperator`` and ``@task.branch`` side by side.

The two DAGs are the same workflow written both ways, so they share :func:`choose_path`.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, TriggerRule, Variable, task

TARGET_DAG_ID = "example_platform_kit_trigger_target"
MODE_VARIABLE = "mode"
DEFAULT_MODE = "dev"
TRIGGER_TASK_ID = "trigger_target"
SKIP_TASK_ID = "skip_trigger"


def choose_path() -> str:
    """Return the task id to follow: trigger the target in ``prod``, skip it in ``dev``.

    The Variable is read here, at run time. A ``Variable.get`` at module level would run on every parse
    of this file (every few seconds, in the dag-processor) and freeze the value into the DAG.
    """
    mode = Variable.get(MODE_VARIABLE, default=DEFAULT_MODE)
    if mode == "prod":
        return TRIGGER_TASK_ID
    if mode == "dev":
        return SKIP_TASK_ID
    # A typo such as "prd" must not silently count as either environment.
    raise ValueError(f"Variable {MODE_VARIABLE!r} is {mode!r}; set it to 'dev' or 'prod' (unset means dev)")


DOC = """
### Branching: `{style}`

Runs `choose_path`, which reads the Variable `mode` **at run time** (missing means `dev`):
- `dev`: follows `skip_trigger`; `trigger_target` is **skipped** and the target DAG does not run;
- `prod`: follows `trigger_target`, which triggers `example_platform_kit_trigger_target` with
  `conf={{"source": "<dag_id>/<run_id>"}}` (fire and forget);
- anything else fails the run with a one-line message: a typo must not count as either mode.

`join` runs after either path with `trigger_rule="none_failed_min_one_success"`.

**When to use it:** the same DAG must behave differently per environment or per input, and the choice
is made from data that exists only at run time (Variables, XCom, the run's `conf`).
`@task.branch` and `BranchPythonOperator` behave the same; the decorator is the modern spelling, the
operator is what the Airflow 2 tutorials use (see `example_platform_kit_branch_operator` and
`example_platform_kit_branch_decorator`).

**Watch for**
- Read Variables inside the callable, never at module level: module code runs at every parse, the
  value would be frozen into the DAG, and a missing Variable breaks the import.
- The tutorials return `[]` for dev. That skips **every** task directly downstream of the branch,
  including a `join` wired to it, so the run ends with nothing done. Return an explicit no-op task
  (`skip_trigger`) instead, so the join has a successful path to follow.
- The join needs `none_failed_min_one_success`: with the default `all_success` it would be skipped,
  because one of its upstreams always is.
- Returned ids must be tasks (or task groups) **directly** downstream of the branch task.
- The trigger leaves `logical_date` unset, so every prod run creates a new target run dated "now"
  (see `example_platform_kit_trigger_controller` for the rerun-safe variant).
"""

_COMMON = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    "is_paused_upon_creation": True,
    "tags": ["example", "platform-kit"],
    "default_args": {"owner": "platform"},
}


def _trigger_skip_join(branch) -> None:
    """Wire the two paths and the join behind ``branch`` (identical in both DAGs)."""
    trigger = TriggerDagRunOperator(
        task_id=TRIGGER_TASK_ID,
        trigger_dag_id=TARGET_DAG_ID,
        conf={"source": "{{ dag.dag_id }}/{{ run_id }}"},
    )
    skip = EmptyOperator(task_id=SKIP_TASK_ID)
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    branch >> [trigger, skip] >> join


with DAG(
    dag_id="example_platform_kit_branch_operator",
    description="Branch on Variable mode with BranchPythonOperator: dev skips the trigger, prod runs it.",
    doc_md=DOC.format(style="BranchPythonOperator"),
    **_COMMON,
):
    _trigger_skip_join(BranchPythonOperator(task_id="choose_path", python_callable=choose_path))


with DAG(
    dag_id="example_platform_kit_branch_decorator",
    description="Branch on Variable mode with @task.branch: dev skips the trigger, prod runs it.",
    doc_md=DOC.format(style="@task.branch"),
    **_COMMON,
):

    @task.branch(task_id="choose_path")
    def choose_path_task() -> str:
        return choose_path()

    _trigger_skip_join(choose_path_task())

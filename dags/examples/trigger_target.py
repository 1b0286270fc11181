"""Target of the explicit-trigger examples: reads the ``conf`` it was triggered with.

Triggered by ``example_platform_kit_trigger_controller`` and by the branch examples
(``example_platform_kit_branch_operator`` / ``example_platform_kit_branch_decorator``).
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param, get_current_context, task

DOC = """
### Target of a `TriggerDagRunOperator`

Receives a `conf` from whoever triggers it and reads it **in a template** (`echo_conf`) and **in a
`@task`** (`read_conf`). Paired with `example_platform_kit_trigger_controller`; see `docs/examples.md`.

**Params** (the keys a trigger may send in `conf`; declaring them validates the `conf` and gives the
UI trigger form defaults):
- `path`: a path the controller hands over (the tutorials' `{"path": "/opt/ml/conf"}`).
- `source`: who triggered this run (`<dag_id>/<run_id>`); empty when triggered by hand.

**Watch for**
- `conf` values override Param defaults (`[core] dag_run_conf_overrides_params`, on by default), so
  read them as `params.<key>`: you get the default when a trigger omits the key. `dag_run.conf` holds
  only what was actually sent.
- A key that is not a declared Param is still in `dag_run.conf`, just not in `params`.
- This DAG must be **unpaused**: runs triggered on a paused DAG are created but never start.
- `schedule=None`: it only runs when triggered.
- Never template a `conf` value straight into a shell command (`bash_command="cp {{ params.path }} ..."`):
  whoever can trigger the DAG can inject shell code. Pass it through `env` as `echo_conf` does.
"""

with DAG(
    dag_id="example_platform_kit_trigger_target",
    description="Target of the TriggerDagRunOperator examples: reads the conf it was triggered with.",
    doc_md=DOC,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["example", "platform-kit"],
    default_args={"owner": "platform"},
    params={
        "path": Param("/opt/ml/conf", type="string", description="A path handed over by the trigger."),
        "source": Param(
            "", type="string", description="Who triggered this run (<dag_id>/<run_id>); empty by hand."
        ),
    },
):
    # The template side: Jinja renders the conf before the command runs. The values go through `env`,
    # not into the command string, so a conf value can never inject shell code.
    echo_conf = BashOperator(
        task_id="echo_conf",
        bash_command='echo "conf path=$CONF_PATH source=$CONF_SOURCE"',
        env={"CONF_PATH": "{{ params.path }}", "CONF_SOURCE": "{{ params.source }}"},
        append_env=True,
    )

    @task
    def read_conf() -> dict:
        """The Python side: the same values from the run's context; returned as XCom for callers."""
        context = get_current_context()
        dag_run = context["dag_run"]
        seen = {
            "path": context["params"]["path"],
            "source": context["params"]["source"],
            "conf": dict(dag_run.conf or {}),
            # A triggered run may have no logical date; run_after is always set.
            "logical_date": dag_run.logical_date.isoformat() if dag_run.logical_date else None,
            "run_after": dag_run.run_after.isoformat(),
        }
        print(f"read_conf: {seen}")
        return seen

    echo_conf >> read_conf()

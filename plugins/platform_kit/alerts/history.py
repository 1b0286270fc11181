"""What the runtime can tell about this run and the previous one, without the metadata DB.

Used for two things: whether a success is a *recovery* (worth an alert), and which tasks failed in a
DAG run (the DAG-level context only carries the *last* task instance, which may not be the culprit,
#26760).

A success alert is only worth sending when someone was told about a problem before. Tasks and callbacks
cannot query the metadata DB in Airflow 3, so the answer comes from what the runtime already offers:

- **task level, same run**: ``try_number > 1`` means earlier attempts failed and retry alerts went out;
- **task level, previous run**: ``ti.get_previous_ti()`` (Task SDK -> Execution API) returns the task's
  instance in the previous run (by logical date); ``failed`` there means this run recovers it;
- **DAG level**: ``ti.get_previous_dagrun()`` on the context's task instance (the dag-processor answers it
  through the same Execution API) — a previous run that ``failed`` means this one recovers.

Runs without a logical date (manual/asset-triggered with ``logical_date=None``) have no "previous run" in
Airflow's sense, so only the same-run rule applies to them. Any lookup error counts as "not a recovery":
a missed recovery message is cheaper than a false one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def _state(obj: Any) -> str:
    state = getattr(obj, "state", None)
    return str(getattr(state, "value", state) or "").lower()


def is_recovery(context: Mapping[str, Any]) -> bool:
    """Whether the success this context reports follows a failure (see the module docstring)."""
    ti = context.get("ti") or context.get("task_instance")
    if ti is None:
        return False
    dag_run = context.get("dag_run")
    has_logical_date = getattr(dag_run, "logical_date", None) is not None
    try:
        if "reason" in context:
            if not has_logical_date:
                return False
            previous = ti.get_previous_dagrun()
            return previous is not None and _state(previous) == "failed"
        if (getattr(ti, "try_number", None) or 0) > 1:
            return True
        if not has_logical_date:
            return False
        previous_ti = ti.get_previous_ti()
        return previous_ti is not None and _state(previous_ti) == "failed"
    except Exception as exc:
        log.debug("Could not tell whether this success is a recovery: %s", exc)
        return False


def failed_task_ids(context: Mapping[str, Any], limit: int = 20) -> tuple[str, ...]:
    """Task ids that ended ``failed`` in this DAG run (asked through the Execution API), sorted.

    Empty when the runtime cannot answer (e.g. no task instance in the context).
    """
    dag = context.get("dag")
    run_id = context.get("run_id")
    if dag is None or not run_id:
        return ()
    try:
        from platform_kit.version_compat import runtime_task_instance

        states = runtime_task_instance().get_task_states(dag_id=dag.dag_id, run_ids=[run_id])
    except Exception as exc:
        log.debug("Could not list the failed tasks of %s: %s", run_id, exc)
        return ()
    per_task = states.get(run_id, states) if isinstance(states, Mapping) else {}
    failed = sorted(
        task
        for task, state in per_task.items()
        if str(state).lower().endswith("failed") and not str(state).lower().startswith("upstream")
    )
    return tuple(failed[:limit])

"""Cluster policy: failure alerts (and a default retry count) for every task, default deadlines by tag,
and the routing facts deadline callbacks need, without DAG changes.

Registered through the ``airflow.policy`` entry point, so installing the package is enough (with
``plugins/`` mounted instead, add ``from platform_kit.alerts.policy import dag_policy`` to
``airflow_local_settings.py``).

**Always**, for a DAG whose deadline calls the kit's callback: it writes the DAG's tags and owner into the
callback's kwargs (:func:`platform_kit.alerts.deadlines.complete_dag`), because Airflow gives a deadline
callback only the run and routing needs them. Using the kit's callback is the opt-in.

**Default deadline by tag** (opt-in): every DAG with the chosen tag and no deadline of its own gets one::

    [platform_kit]
    deadline_policy_tag = sla           # AIRFLOW__PLATFORM_KIT__DEADLINE_POLICY_TAG
    deadline_policy_minutes = 120       # 2 h ...
    deadline_policy_reference = queued  # ... after the run was queued (or logical_date)

**Failure alerts** (opt-in), on the dag-processor **and** the workers (both parse DAG files)::

    [platform_kit]
    alerts_policy = True          # AIRFLOW__PLATFORM_KIT__ALERTS_POLICY=True
    alerts_policy_retries = 1     # AIRFLOW__PLATFORM_KIT__ALERTS_POLICY_RETRIES=1 (0 = leave retries)

For each task of each DAG it then

- adds :func:`~platform_kit.alerts.on_failure_callback` when the task has no failure callback at all
  (a task with its own callback is left alone: the team chose how it is alerted);
- sets ``retries`` when neither the task nor the DAG's ``default_args`` set it (an explicit
  ``retries=0`` is respected).

A DAG opts out with the tag ``alerts:off``.

This module is imported while Airflow initialises its settings, so it must import nothing heavy at
module level.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.policies import hookimpl

from platform_kit import settings

log = logging.getLogger(__name__)


@hookimpl
def dag_policy(dag: Any) -> None:
    """Apply the platform defaults to ``dag`` and its tasks (see the module docstring)."""
    apply_deadline_defaults(dag)
    if not settings.alerts_policy_enabled():
        return
    if settings.ALERTS_OPT_OUT_TAG in set(getattr(dag, "tags", None) or ()):
        log.debug("DAG %s opted out of the alerting policy", dag.dag_id)
        return
    from platform_kit.alerts.callbacks import on_failure_callback

    retries = settings.alerts_policy_retries()
    for task in dag.tasks:
        apply_platform_defaults(task, on_failure_callback, retries)


def apply_deadline_defaults(dag: Any) -> None:
    """Give ``dag`` the tag's default deadline if it qualifies, and complete its kit deadlines.

    A bad setting is logged at error level and the DAG keeps loading without the default: a policy that
    raises would drop every tagged DAG from the scheduler.
    """
    from platform_kit.alerts import deadlines
    from platform_kit.exceptions import PlatformKitError

    try:
        default = deadlines.policy_deadline(dag)
        if default is not None:
            dag.deadline = [default]
        deadlines.complete_dag(dag)
    except PlatformKitError as exc:
        log.error("Deadline policy not applied to DAG %s: %s", getattr(dag, "dag_id", dag), exc)
    except Exception as exc:
        log.warning("Deadline policy not applied to DAG %s: %s", getattr(dag, "dag_id", dag), exc)


def apply_platform_defaults(task: Any, callback: Any, retries: int) -> None:
    """Give ``task`` ``callback`` if it has no failure callback, and ``retries`` if it set none."""
    from platform_kit.version_compat import explicit_operator_kwargs

    try:
        if not getattr(task, "on_failure_callback", None):
            task.on_failure_callback = [callback]
        explicit = explicit_operator_kwargs(task)
        if retries and explicit is not None and "retries" not in explicit:
            task.retries = retries
    except Exception as exc:
        # A policy error would make the DAG fail to import; a task without the default is the lesser harm.
        log.warning("Alerting policy not applied to task %s: %s", getattr(task, "task_id", task), exc)

"""Opt-in cluster policy: failure alerts (and a default retry count) for every task, without DAG changes.

Registered through the ``airflow.policy`` entry point, so installing the package is enough; it does
nothing until switched on, on the dag-processor **and** the workers (both parse DAG files)::

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
    """Apply the platform defaults to every task of ``dag`` (see the module docstring)."""
    if not settings.alerts_policy_enabled():
        return
    if settings.ALERTS_OPT_OUT_TAG in set(getattr(dag, "tags", None) or ()):
        log.debug("DAG %s opted out of the alerting policy", dag.dag_id)
        return
    from platform_kit.alerts.callbacks import on_failure_callback

    retries = settings.alerts_policy_retries()
    for task in dag.tasks:
        apply_platform_defaults(task, on_failure_callback, retries)


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

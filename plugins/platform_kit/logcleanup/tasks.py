"""The log cleanup DAG's task: reads Airflow's log settings at run time and drives the engine.

Only configuration is read here (Airflow's ``conf``), never the metadata DB, so it works under
Airflow 3's task DB isolation. The folders are read when the task runs, on the worker that runs it, so
each worker cleans what *its* configuration points at.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

from platform_kit.adapters import task_failures
from platform_kit.exceptions import LogCleanupError
from platform_kit.logcleanup.engine import clean_logs
from platform_kit.logcleanup.policy import RetentionPolicy, parse_dag_retention, parse_size
from platform_kit.maintenance import optional_text

log = logging.getLogger(__name__)


def configured_log_folders() -> tuple[str, str | None]:
    """``[logging] base_log_folder`` and ``dag_processor_child_process_log_directory`` of this worker."""
    from platform_kit.version_compat import airflow_conf

    conf = airflow_conf()
    base = conf.get("logging", "base_log_folder")
    processor = conf.get("logging", "dag_processor_child_process_log_directory", fallback=None)
    return base, processor or None


def policy_from_params(params: Mapping[str, Any]) -> RetentionPolicy:
    """The engine policy from the DAG's Params (checked again: API triggers can bypass the form)."""
    return RetentionPolicy(
        retention_days=params["retention_days"],
        retention_hours=params["retention_hours"],
        dag_retention_days=parse_dag_retention(params.get("dag_retention") or {}),
        dag_processor_retention_days=params.get("dag_processor_retention_days"),
        max_size=parse_size(optional_text(params, "max_size")),
        size_floor_hours=params["size_floor_hours"],
        min_age_minutes=params["min_age_minutes"],
    )


def clean_logs_task(
    params: Mapping[str, Any], queue: str | None = None, dag_run: Any = None
) -> dict[str, Any]:
    """Run one cleanup with the DAG's Params on this worker; return the summary for XCom.

    :param params: the run's Params (see the DAG's doc).
    :param queue: the Celery queue this task was routed to, recorded in the summary.
    :param dag_run: the context's ``dag_run``: a scheduled run is a dry run until the DAG is confirmed
        (:mod:`platform_kit.confirmation`).
    :raises AirflowFailException: bad Params, unsafe root, another cleanup running, or (with
        ``fail_on_errors``) files that could not be deleted; the summary is logged and pushed first.
    """
    with task_failures():
        return _clean_logs(params, queue, dag_run)


def _clean_logs(params: Mapping[str, Any], queue: str | None, dag_run: Any) -> dict[str, Any]:
    from platform_kit.confirmation import deletion_gate
    from platform_kit.summary import report

    base, processor = configured_log_folders()
    policy = policy_from_params(params)
    gate = deletion_gate(dag_run, requested_dry_run=bool(params["dry_run"]))
    result = clean_logs(base, policy, dag_processor_folder=processor, dry_run=gate.dry_run)
    summary = {
        "host": socket.gethostname(),
        **({"queue": queue} if queue else {}),
        **gate.summary(),
        **result.as_dict(),
    }
    summary = report(
        result.title(), summary, slack_conn_id=optional_text(params, "slack_conn_id"), logger=log
    )
    log.info("%s", result.outcome_line())
    if result.errors and params.get("fail_on_errors", True):
        from airflow.sdk import get_current_context

        # The task fails, so it returns nothing: push the summary where a successful run leaves it.
        get_current_context()["ti"].xcom_push(key="return_value", value=summary)
        raise LogCleanupError(
            f"log cleanup finished with {result.errors} errors (first: {result.error_samples[0]}); "
            "fix ownership/permissions of the log folder or set fail_on_errors=false"
        )
    gate.record()
    return summary

"""The log cleanup DAG's tasks: read Airflow's log settings at run time and drive the engines.

Only configuration is read here (Airflow's ``conf``), never the metadata DB, so it works under
Airflow 3's task DB isolation. The folders are read when the task runs, on the worker that runs it, so
each worker cleans what *its* configuration points at; the remote folder (``[logging]
remote_base_log_folder``) is one for all workers and is cleaned by one task.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

from platform_kit.adapters import task_failures
from platform_kit.defaults import AWS_CONN_ID, GOOGLE_CONN_ID
from platform_kit.exceptions import LogCleanupError
from platform_kit.logcleanup.engine import clean_logs
from platform_kit.logcleanup.policy import RetentionPolicy, parse_dag_retention, parse_size
from platform_kit.logcleanup.report import CleanupReport
from platform_kit.maintenance import optional_text

log = logging.getLogger(__name__)

#: Remote log folders the kit cleans, and the provider connection Airflow uses when
#: ``remote_log_conn_id`` is empty.
REMOTE_SCHEMES = {"s3": AWS_CONN_ID, "gs": GOOGLE_CONN_ID, "gcs": GOOGLE_CONN_ID}


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


def configured_remote_log_folder() -> tuple[str, str] | None:
    """``[logging] remote_base_log_folder`` and ``remote_log_conn_id``, or ``None`` without remote logging."""
    from platform_kit.version_compat import airflow_conf

    conf = airflow_conf()
    if not conf.getboolean("logging", "remote_logging", fallback=False):
        return None
    folder = conf.get("logging", "remote_base_log_folder", fallback="") or ""
    conn_id = conf.get("logging", "remote_log_conn_id", fallback="") or ""
    return folder.strip(), conn_id.strip()


def remote_policy_from_params(params: Mapping[str, Any]) -> RetentionPolicy:
    """The policy for the remote folder: the ``remote_*`` Params, each blank one taken from the local one."""
    local = policy_from_params(params)
    days = params.get("remote_retention_days")
    per_dag = params.get("remote_dag_retention")
    return RetentionPolicy(
        retention_days=local.retention_days if days is None else days,
        retention_hours=local.retention_hours if days is None else 0.0,
        dag_retention_days=local.dag_retention_days if per_dag is None else parse_dag_retention(per_dag),
        dag_processor_retention_days=local.dag_processor_retention_days,
        min_age_minutes=local.min_age_minutes,
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
    summary = _publish(result, summary, params, "fix ownership/permissions of the log folder")
    gate.record()
    return summary


def clean_remote_logs_task(params: Mapping[str, Any], dag_run: Any = None) -> dict[str, Any]:
    """Clean the remote log folder (S3/GCS) with the DAG's Params; return the summary for XCom.

    Skipped, with the reason in the log, when ``clean_remote`` is off, remote logging is off, or the
    remote folder is not on S3 or GCS. A scheduled run is a dry run until the DAG is confirmed, as for
    the local folders.

    :param params: the run's Params (see the DAG's doc).
    :param dag_run: the context's ``dag_run`` (:mod:`platform_kit.confirmation`).
    :raises AirflowFailException: bad Params, a bucket root without ``remote_allow_bucket_root``, no access
        to the bucket, or (with ``fail_on_errors``) objects that could not be deleted.
    """
    with task_failures():
        return _clean_remote_logs(params, dag_run)


def _clean_remote_logs(params: Mapping[str, Any], dag_run: Any) -> dict[str, Any]:
    from platform_kit.confirmation import deletion_gate
    from platform_kit.logcleanup.remote import clean_remote_logs

    if not params.get("clean_remote", True):
        _skip("clean_remote is off for this run")
    configured = configured_remote_log_folder()
    if configured is None:
        _skip("[logging] remote_logging is off: there is no remote log folder to clean")
    folder, conn_id = configured
    scheme = folder.partition("://")[0].lower()
    if scheme not in REMOTE_SCHEMES:
        _skip(
            f"remote logs go to {folder or 'an empty remote_base_log_folder'}; platform-kit cleans s3:// and "
            "gs:// folders only: expire these with the service's own retention"
        )
    conn_id = conn_id or REMOTE_SCHEMES[scheme]
    gate = deletion_gate(dag_run, requested_dry_run=bool(params["dry_run"]))
    result = clean_remote_logs(
        folder,
        remote_policy_from_params(params),
        dry_run=gate.dry_run,
        allow_bucket_root=bool(params.get("remote_allow_bucket_root")),
        aws_conn_id=conn_id,
        google_conn_id=conn_id,
    )
    summary = {"connection": conn_id, **gate.summary(), **result.as_dict()}
    summary = _publish(result, summary, params, f"grant delete on the folder to connection {conn_id!r}")
    gate.record()
    return summary


def _publish(result: CleanupReport, summary: dict[str, Any], params: Mapping[str, Any], fix: str) -> dict:
    """Log the summary, post it to Slack, and fail the task (after pushing it) when there were errors."""
    from platform_kit.summary import report

    summary = report(
        result.title(), summary, slack_conn_id=optional_text(params, "slack_conn_id"), logger=log
    )
    log.info("%s", result.outcome_line())
    if result.errors and params.get("fail_on_errors", True):
        from airflow.sdk import get_current_context

        # The task fails, so it returns nothing: push the summary where a successful run leaves it.
        get_current_context()["ti"].xcom_push(key="return_value", value=summary)
        raise LogCleanupError(
            f"{result.title().lower()} finished with {result.errors} errors (first: "
            f"{result.error_samples[0]}); {fix} or set fail_on_errors=false"
        )
    return summary


def _skip(reason: str) -> None:
    from platform_kit.version_compat import skip_exception

    log.info("Skipping the remote log cleanup: %s", reason)
    raise skip_exception()(reason)

"""What Airflow hands a Deadline Alert callback, built by Airflow's own code, for the deadline tests.

Not a test module; ``tests/`` is on ``sys.path`` through its ``conftest.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def deadline_context(
    *,
    dag_id: str = "nightly_sales",
    run_id: str = "scheduled__2026-01-02T00:00:00+00:00",
    state: str = "running",
    queued_at: datetime,
    deadline_time: datetime,
    logical_date: datetime | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
) -> dict[str, Any]:
    """The context the scheduler builds in ``Deadline.handle_miss``: the run as the REST API's
    ``DAGRUNResponse`` JSON (Airflow's serializer, not a hand-made dict) and the deadline."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse

    fields = {
        "run_id": run_id,
        "dag_id": dag_id,
        "logical_date": logical_date,
        "queued_at": queued_at,
        "start_date": start_date if start_date is not None else queued_at + timedelta(seconds=1),
        "end_date": end_date,
        "duration": None,
        "data_interval_start": None,
        "data_interval_end": None,
        "run_after": logical_date or queued_at,
        "last_scheduling_decision": None,
        "run_type": "scheduled" if logical_date else "manual",
        "state": state,
        "triggered_by": None,
        "triggering_user_name": None,
        "conf": {},
        "note": None,
        "dag_versions": [],
        "bundle_version": None,
        "dag_model": {"dag_display_name": dag_id},
        "partition_key": None,
        "partition_date": None,
    }
    run = DAGRunResponse.model_validate(fields).model_dump(mode="json")
    return {
        "dag_run": run,
        "deadline": {"id": "01900000-0000-7000-8000-000000000000", "deadline_time": deadline_time},
    }


def callback_trigger(path: str, kwargs: dict[str, Any]) -> Any:
    """Airflow's trigger that runs an ``AsyncCallback`` in the triggerer (its class moved in 3.2)."""
    try:
        from airflow.triggers.callback import CallbackTrigger
    except ImportError:  # Airflow 3.1
        from airflow.triggers.deadline import DeadlineCallbackTrigger as CallbackTrigger
    return CallbackTrigger(callback_path=path, callback_kwargs=kwargs)


def now() -> datetime:
    return datetime.now(UTC)

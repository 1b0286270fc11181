"""An :class:`~platform_kit.alerts.message.Alert` from what Airflow passes a callback.

Task-level contexts come from the worker (full template context plus ``exception``); DAG-level ones from
the dag-processor (``dag``, ``run_id``, ``reason``); Deadline Alert contexts from the scheduler, run in
the triggerer (``dag_run`` as the REST API's JSON, ``deadline`` with its time). A run may have no logical
date.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from platform_kit.alerts.message import ALL_FIELDS, Alert, AlertKind
from platform_kit.alerts.text import describe_exception, escape_slack

log = logging.getLogger(__name__)


def alert_kind_from_context(context: Mapping[str, Any]) -> AlertKind:
    """Which alert a context calls for, when the caller did not say.

    DAG-level contexts carry ``reason`` (``success`` or a failure reason); task-level contexts carry the
    task instance, whose state is already final when callbacks run.
    """
    if "reason" in context:
        return "success" if context.get("reason") == "success" else "failure"
    state = str(getattr(context.get("ti"), "state", "") or "").lower()
    if state.endswith("up_for_retry"):
        return "retry"
    if state.endswith("success"):
        return "success"
    return "failure"


def alert_from_context(
    context: Mapping[str, Any],
    kind: AlertKind | None = None,
    *,
    mentions: Iterable[str] = (),
    fields: Sequence[str] | None = None,
    note: str | None = None,
) -> Alert:
    """Build an :class:`Alert` from what Airflow passes a callback.

    Works for task-level contexts (worker: full template context plus ``exception``) and DAG-level ones
    (dag-processor: ``dag``, ``run_id``, ``reason`` and, when there is one, the *last* task instance's
    context — which is not necessarily the failing one, so DAG-level alerts do not name a task).
    Any attribute that is missing is left out rather than failing.
    """
    kind = kind or alert_kind_from_context(context)
    dag_level = "reason" in context
    dag = context.get("dag")
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    task = context.get("task")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None)
    owner = _owner(task, dag)

    if dag_level:
        start = getattr(dag_run, "start_date", None)
        end = getattr(dag_run, "end_date", None)
        alert = Alert(
            kind=kind,
            dag_id=dag_id,
            run_id=context.get("run_id") or getattr(dag_run, "run_id", None),
            state="success" if kind in ("success", "recovery") else "failed",
            duration_seconds=_seconds_between(start, end),
            logical_date=getattr(dag_run, "logical_date", None),
            run_after=getattr(dag_run, "run_after", None),
            owner=owner,
            reason=str(context.get("reason")) if context.get("reason") else None,
            exception=None,
            log_url=_dag_run_url(ti, dag_id, context.get("run_id")),
        )
    else:
        try_number = _int_or_none(getattr(ti, "try_number", None))
        max_tries = _int_or_none(getattr(ti, "max_tries", None))
        if max_tries is None:
            max_tries = _int_or_none(getattr(task, "retries", None))
        alert = Alert(
            kind=kind,
            dag_id=dag_id,
            task_id=getattr(ti, "task_id", None) or getattr(task, "task_id", None),
            run_id=context.get("run_id") or getattr(ti, "run_id", None),
            map_index=_int_or_none(getattr(ti, "map_index", None)),
            try_number=try_number,
            max_attempts=max_tries + 1 if max_tries is not None else None,
            state=_state_text(getattr(ti, "state", None)),
            duration_seconds=_seconds_between(getattr(ti, "start_date", None), getattr(ti, "end_date", None)),
            logical_date=getattr(dag_run, "logical_date", None) or context.get("logical_date"),
            run_after=getattr(dag_run, "run_after", None),
            owner=owner,
            exception=describe_exception(context.get("exception")),
            log_url=_safe_log_url(ti),
        )
    selected = tuple(f for f in (fields or ALL_FIELDS) if f in ALL_FIELDS)
    return replace(alert, mentions=tuple(normalise_mentions(mentions)), fields=selected, note=note)


def is_deadline_context(context: Mapping[str, Any]) -> bool:
    """Whether ``context`` is what Airflow passes a Deadline Alert callback (a missed deadline)."""
    deadline = context.get("deadline")
    return isinstance(deadline, Mapping) and "deadline_time" in deadline


def deadline_run(context: Mapping[str, Any]) -> dict[str, Any]:
    """The run of a deadline context, with its dates as datetimes: ``dag_id``, ``run_id``, ``state``,
    ``queued_at``, ``logical_date``, ``run_after``, ``start_date``, ``end_date`` and ``deadline_time``."""
    run = context.get("dag_run") or {}
    if not isinstance(run, Mapping):  # an object instead of JSON (a SyncCallback on some versions)
        run = {name: getattr(run, name, None) for name in ("dag_id", "run_id", "state", *_RUN_DATES)}
    return {
        "dag_id": run.get("dag_id"),
        "run_id": run.get("dag_run_id") or run.get("run_id"),
        "state": _state_text(run.get("state")),
        **{name: as_datetime(run.get(name)) for name in _RUN_DATES},
        "deadline_time": as_datetime((context.get("deadline") or {}).get("deadline_time")),
    }


_RUN_DATES = ("queued_at", "logical_date", "run_after", "start_date", "end_date")


def alert_from_deadline_context(
    context: Mapping[str, Any],
    *,
    reference: str | None = None,
    state: str | None = None,
    owners: Iterable[str] = (),
    mentions: Iterable[str] = (),
    note: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """The missed-deadline alert for a Deadline Alert context: the DAG and run, the deadline and what it
    counts from, how late the run is, its state now and a link to the run.

    :param reference: the deadline's reference in words (``2h after the run was queued (...)``).
    :param state: the run's state now, when asked after the context was made; else the context's.
    :param owners: the DAG's owners (Airflow does not pass the DAG to deadline callbacks).
    """
    run = deadline_run(context)
    due = run["deadline_time"]
    now = now or datetime.now(UTC)
    alert = Alert(
        kind="deadline",
        dag_id=run["dag_id"],
        run_id=run["run_id"],
        state=state or run["state"],
        deadline=due,
        deadline_reference=reference,
        late_seconds=max((now - due).total_seconds(), 0.0) if due else None,
        logical_date=run["logical_date"],
        run_after=run["run_after"],
        owner=", ".join(owners) or None,
        log_url=_dag_run_url(None, run["dag_id"], run["run_id"]),
    )
    return replace(alert, mentions=tuple(normalise_mentions(mentions)), note=note)


def as_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime from a datetime, an ISO string (``...Z`` too) or epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(float(value), tz=UTC)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def normalise_mentions(mentions: Iterable[str]) -> list[str]:
    """Accept ``U123``, ``@U123``, ``<@U123>``, ``here``/``@channel``, ``subteam^S1`` -> Slack syntax."""
    result = []
    for raw in mentions:
        value = str(raw).strip()
        if not value:
            continue
        if value.startswith("<") and value.endswith(">"):
            result.append(value)
            continue
        value = value.lstrip("@!")
        if value in ("here", "channel", "everyone") or value.startswith("subteam^"):
            result.append(f"<!{value}>")
        else:
            result.append(f"<@{escape_slack(value)}>")
    return result


def _owner(task: Any, dag: Any) -> str | None:
    owner = getattr(task, "owner", None)
    if not owner:
        owner = getattr(dag, "owner", None) or (getattr(dag, "default_args", None) or {}).get("owner")
    return str(owner) if owner else None


def _state_text(state: Any) -> str | None:
    if state is None:
        return None
    return str(getattr(state, "value", state))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _seconds_between(start: Any, end: Any) -> float | None:
    if not isinstance(start, datetime):
        return None
    if not isinstance(end, datetime):
        # Callbacks can run before the end date is recorded; the time so far is the honest answer.
        end = datetime.now(UTC) if start.tzinfo else datetime.now()
    return max((end - start).total_seconds(), 0.0)


def _safe_log_url(ti: Any) -> str | None:
    try:
        return getattr(ti, "log_url", None)
    except Exception:  # log_url reads config and attributes that a minimal context may lack
        return None


def _dag_run_url(ti: Any, dag_id: str | None, run_id: str | None) -> str | None:
    """The run's page in the UI (``/dags/<dag>/runs/<run>``): the grid of every task's state and log."""
    if not dag_id or not run_id:
        return None
    from urllib.parse import quote

    try:
        from platform_kit.version_compat import airflow_conf

        base_url = airflow_conf().get("api", "base_url", fallback="http://localhost:8080/")
    except Exception:
        base_url = "http://localhost:8080/"
    return f"{(base_url or 'http://localhost:8080/').rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}"

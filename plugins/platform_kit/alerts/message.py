"""The alert message model: everything one alert says, independent of where it is sent.

An :class:`Alert` is built once (from an Airflow callback context by :mod:`~platform_kit.alerts.context`,
or directly by the health monitor and run summaries) and rendered for each transport by
:mod:`~platform_kit.alerts.slack` and :mod:`~platform_kit.alerts.telegram`, so every target says the same
thing. Nothing here touches the network or Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

AlertKind = Literal["failure", "retry", "success", "recovery", "deadline", "late", "summary", "test"]

#: Every field an alert can show, in display order. ``SlackNotifier(fields=...)`` picks a subset.
ALL_FIELDS: tuple[str, ...] = (
    "dag",
    "task",
    "run_id",
    "try",
    "state",
    "deadline",
    "late_by",
    "duration",
    "date",
    "owner",
    "reason",
    "failed_tasks",
    "exception",
    "log_url",
)

_TITLES: dict[str, tuple[str, str]] = {
    # kind: (emoji, verb) — a retry must never read like a failure.
    "failure": ("\U0001f534", "Failed"),
    "retry": ("\U0001f7e0", "Retrying"),
    "success": ("\u2705", "Succeeded"),
    "recovery": ("\u2705", "Recovered"),
    # A run past its deadline is a warning, not a failure: it may still succeed.
    "deadline": ("\u23f0", "missed its deadline"),
    "late": ("\U0001f553", "finished late"),
    "summary": ("\U0001f4cb", "Summary"),
    "test": ("\U0001f9ea", "Test alert"),
}


@dataclass(frozen=True)
class Alert:
    """Everything one alert says, independent of where it is sent.

    :param kind: ``failure``, ``retry``, ``success``, ``recovery``, ``deadline`` (a run missed its
        deadline), ``late`` (a run that missed its deadline has ended), ``summary`` or ``test``.
    :param dag_id: the DAG the alert is about.
    :param task_id: the task, or ``None`` for a DAG-level alert.
    :param run_id: the DAG run id.
    :param map_index: the mapped task index (``None`` or ``-1`` when not mapped).
    :param try_number: the attempt that just ended (1-based).
    :param max_attempts: total attempts allowed (``retries + 1``).
    :param state: the Airflow state the task or run ended in.
    :param duration_seconds: how long the attempt (or the run, for DAG alerts) took.
    :param logical_date: the run's logical date; ``None`` for runs without one.
    :param run_after: when the run was due; shown when there is no logical date.
    :param owner: the task or DAG owner.
    :param reason: the DAG-level reason Airflow gives (``task_failure``, ``timed_out``, ...).
    :param failed_tasks: DAG-level alerts: the tasks that failed in the run.
    :param deadline: deadline alerts: when the run should have been done.
    :param deadline_reference: deadline alerts: what the deadline counts from, in words
        (``2h after the run was queued at 2026-01-02T07:00:00+00:00``).
    :param late_seconds: deadline alerts: how far past the deadline the run is (or ended).
    :param exception: one-line description of the error (type and message), not yet escaped.
    :param log_url: link to the task log in the Airflow UI (the run's page for DAG-level alerts).
    :param title: free headline, used by ``summary`` and ``test`` alerts.
    :param facts: extra key/value lines (maintenance summaries).
    :param mentions: Slack mentions to put in front (``<@U123>``, ``<!here>``, ``<!subteam^S1>``).
    :param note: an extra free line chosen by the DAG author.
    """

    kind: AlertKind
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    max_attempts: int | None = None
    state: str | None = None
    duration_seconds: float | None = None
    logical_date: datetime | None = None
    run_after: datetime | None = None
    owner: str | None = None
    reason: str | None = None
    failed_tasks: tuple[str, ...] = ()
    deadline: datetime | None = None
    deadline_reference: str | None = None
    late_seconds: float | None = None
    exception: str | None = None
    log_url: str | None = None
    title: str | None = None
    facts: tuple[tuple[str, str], ...] = ()
    mentions: tuple[str, ...] = ()
    note: str | None = None
    fields: tuple[str, ...] = field(default=ALL_FIELDS)

    @property
    def is_dag_level(self) -> bool:
        return self.task_id is None and self.dag_id is not None

    @property
    def subject(self) -> str:
        """``dag.task`` (``dag.task[3]`` for a mapped task) or the DAG id for a DAG-level alert."""
        if not self.dag_id:
            return ""
        if self.task_id is None:
            return self.dag_id
        mapped = f"[{self.map_index}]" if self.map_index is not None and self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{mapped}"

    def headline(self) -> str:
        """One unescaped line: ``🔴 Failed: dag.task`` / ``🟠 Retrying (try 1 of 3): dag.task``."""
        emoji, verb = _TITLES[self.kind]
        if self.kind in ("summary", "test") or (self.title and not self.dag_id):
            # Alerts about no DAG (health monitor, maintenance summaries) carry their own headline.
            return f"{emoji} {self.title or verb}"
        if self.kind == "late":
            ended = "succeeded" if self.state == "success" else (self.state or "ended")
            emoji = "\u2705" if self.state == "success" else "\U0001f534" if self.state == "failed" else emoji
            return f"{emoji} DAG run {ended}, {verb}: {self.subject}"
        if self.is_dag_level:
            verb = f"DAG run {verb.lower()}"
        elif self.kind == "retry" and self.try_number:
            verb = f"Retrying after try {self.try_number}" + (
                f" of {self.max_attempts}" if self.max_attempts else ""
            )
        return f"{emoji} {verb}: {self.subject}"

    @property
    def link_label(self) -> str:
        """DAG-level alerts link the run (every task's state and log), task alerts the task's log."""
        return "View run" if self.is_dag_level else "View log"

    def field_values(self) -> list[tuple[str, str]]:
        """The selected short fields as ``(label, unescaped value)``, skipping unknown values."""
        values: dict[str, tuple[str, str] | None] = {
            "dag": ("DAG", self.dag_id) if self.dag_id else None,
            "task": ("Task", self.subject.split(".", 1)[1]) if self.task_id else None,
            "run_id": ("Run", self.run_id) if self.run_id else None,
            "try": ("Try", _try_text(self.try_number, self.max_attempts)) if self.try_number else None,
            "state": ("State", self.state) if self.state else None,
            "deadline": ("Deadline", _deadline_text(self.deadline, self.deadline_reference))
            if self.deadline or self.deadline_reference
            else None,
            "late_by": ("Late by", format_duration(self.late_seconds))
            if self.late_seconds is not None
            else None,
            "duration": ("Duration", format_duration(self.duration_seconds))
            if self.duration_seconds is not None
            else None,
            "date": _date_field(self.logical_date, self.run_after),
            "owner": ("Owner", self.owner) if self.owner else None,
            "reason": ("Reason", self.reason) if self.reason else None,
            "failed_tasks": ("Failed tasks", ", ".join(self.failed_tasks)) if self.failed_tasks else None,
        }
        return [pair for name in self.fields if (pair := values.get(name)) is not None]


def _try_text(try_number: int, max_attempts: int | None) -> str:
    return f"{try_number} of {max_attempts}" if max_attempts else str(try_number)


def _date_field(logical_date: datetime | None, run_after: datetime | None) -> tuple[str, str] | None:
    if logical_date is not None:
        return ("Logical date", _iso(logical_date))
    if run_after is not None:
        return ("Run after", _iso(run_after))
    return None


def _deadline_text(deadline: datetime | None, reference: str | None) -> str:
    when = _iso(deadline) if deadline is not None else ""
    return f"{when}, {reference}" if when and reference else when or reference or ""


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)


def format_duration(seconds: float | None) -> str:
    """``75.2`` -> ``'1m 15s'``; sub-minute durations keep one decimal."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"

"""Declaring deadlines: Airflow's Deadline Alerts (the SLA replacement) with the kit's alert as callback.

One line on a DAG::

    from platform_kit.alerts import deadline

    DAG("nightly_sales", schedule="@daily", deadline=deadline(hours=7, reference="logical_date"), ...)
    DAG("metadb_backup", deadline=deadline(hours=2))  # 2 h after the run was queued

Airflow evaluates the deadline when it creates the run. If the run is not done by then, the scheduler
queues the kit's :func:`~platform_kit.alerts.callbacks.on_deadline_missed` in the **triggerer**, which
sends one "missed deadline" alert, watches the run, and sends one "finished late" follow-up when it ends
(:mod:`platform_kit.alerts.late_runs`). A run that succeeds in time gets nothing: Airflow drops its
deadline.

Airflow hands a deadline callback only the run, not the DAG, so neither its tags nor its owner, which
routing needs. :func:`complete_dag` writes them, and the DAG's other kit deadlines, into the callback's
kwargs when the DAG is parsed: the kit's cluster policy calls it for every DAG (no setting needed: using
the kit's callback is the opt-in) and so does the maintenance DAG header.

Everything here runs at parse time: no network, no Variable, nothing heavy imported.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from platform_kit import defaults, settings
from platform_kit.exceptions import ConfigurationError

log = logging.getLogger(__name__)

#: Where Airflow finds the kit's callback (the serialized DAG stores this path).
CALLBACK_PATH = "platform_kit.alerts.callbacks.on_deadline_missed"
#: Callback kwargs: this deadline's :class:`DeadlineSpec`, and those of all the DAG's kit deadlines.
SPEC_KWARG = "deadline_spec"
SIBLINGS_KWARG = "sibling_specs"

# Airflow's reference class names -> the kit's names for them.
_REFERENCE_KINDS = {
    "DagRunQueuedAtDeadline": "queued",
    "DagRunLogicalDateDeadline": "logical_date",
    "FixedDatetimeDeadline": "fixed",
}
_REFERENCE_WORDS = {"queued": "the run was queued", "logical_date": "the run's logical date"}


@dataclass(frozen=True)
class DeadlineSpec:
    """What a deadline counts from and how long it allows, in a form that survives serialization.

    :param reference: ``queued``, ``logical_date``, ``fixed`` or the name of another Airflow reference.
    :param interval_seconds: the allowance after the reference (``None`` when Airflow resolves it at run
        time, e.g. from a Variable).
    :param fixed_at: for ``fixed``: the reference time, as seconds since the epoch.
    """

    reference: str
    interval_seconds: float | None
    fixed_at: float | None = None

    @classmethod
    def of_alert(cls, alert: Any) -> DeadlineSpec:
        """The spec of an Airflow ``DeadlineAlert``."""
        data = alert.reference.serialize_reference()
        name = str(data.get("reference_type") or type(alert.reference).__name__)
        interval = alert.interval.total_seconds() if isinstance(alert.interval, timedelta) else None
        return cls(_REFERENCE_KINDS.get(name, name), interval, data.get("datetime"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeadlineSpec:
        return cls(str(data.get("reference") or ""), data.get("interval_seconds"), data.get("fixed_at"))

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "interval_seconds": self.interval_seconds,
            "fixed_at": self.fixed_at,
        }

    def reference_time(self, queued_at: datetime | None, logical_date: datetime | None) -> datetime | None:
        """The moment this deadline counts from, for a run queued and dated as given."""
        if self.reference == "queued":
            return queued_at
        if self.reference == "logical_date":
            return logical_date
        if self.reference == "fixed" and self.fixed_at is not None:
            return datetime.fromtimestamp(float(self.fixed_at), tz=UTC)
        return None

    def due(self, queued_at: datetime | None, logical_date: datetime | None) -> datetime | None:
        """When a run queued and dated as given must be done; ``None`` when that cannot be known here."""
        start = self.reference_time(queued_at, logical_date)
        if start is None or self.interval_seconds is None:
            return None
        return start + timedelta(seconds=float(self.interval_seconds))

    def describe(self, reference_time: datetime | None = None) -> str:
        """``2h after the run was queued at 2026-01-02T07:00:00+00:00`` (the time when given)."""
        at = f" {reference_time.isoformat(timespec='seconds')}" if reference_time else ""
        if self.reference == "queued":
            what = f"the run was queued{' at' + at if at else ''}"
        elif self.reference == "logical_date":
            what = f"the run's logical date{at}"
        elif self.reference == "fixed":
            what = f"the fixed time{at}"
        else:
            what = f"Airflow's {self.reference}{at}"
        if self.interval_seconds is None:
            return f"{what}, plus an interval Airflow resolves per run"
        return f"{interval_text(self.interval_seconds)} after {what}" if self.interval_seconds else what


def interval_text(seconds: float | None) -> str:
    """``7200`` -> ``'2h'``, ``5400`` -> ``'1h 30m'``, ``45`` -> ``'45s'``."""
    if seconds is None:
        return ""
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value]
    return " ".join(parts) or "0s"


def deadline(
    *,
    hours: float = 0,
    minutes: float = 0,
    seconds: float = 0,
    reference: str | datetime = defaults.DEADLINE_REFERENCE,
    conn_id: str | None = None,
    mentions: Sequence[str] = (),
    note: str | None = None,
) -> Any:
    """A Deadline Alert that sends the kit's missed-deadline alert and finished-late follow-up.

    ``DAG(..., deadline=deadline(hours=2))``: alert when a run is not done 2 h after it was queued.

    :param hours: the allowance after the reference (added to ``minutes`` and ``seconds``).
    :param minutes: see ``hours``.
    :param seconds: see ``hours``.
    :param reference: what the allowance counts from: ``"queued"`` (default: when the run was queued,
        works for manual runs too), ``"logical_date"`` (a daily DAG with ``hours=7`` must be done by
        07:00 of its date; runs without a logical date get no deadline), or a timezone-aware
        ``datetime`` (a fixed point in time).
    :param conn_id: send to this connection instead of routing by tag and owner.
    :param mentions: who to notify on the missed-deadline alert (``"U024BE7LH"``, ``"here"``,
        ``"subteam^S0PAY"``); the follow-up never mentions anyone.
    :param note: an extra line on both messages, e.g. a runbook link.
    :raises ConfigurationError: an unknown reference, a naive datetime, a negative allowance, or none at
        all for a ``queued`` or ``logical_date`` reference.
    """
    from platform_kit.version_compat import deadline_api

    api = deadline_api()
    interval = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if interval < timedelta(0):
        raise ConfigurationError("deadline(): the allowance must not be negative")
    if isinstance(reference, datetime):
        if reference.tzinfo is None or reference.utcoffset() is None:
            raise ConfigurationError("deadline(): a fixed reference needs a timezone-aware datetime")
        airflow_reference = api.DeadlineReference.FIXED_DATETIME(reference)
        spec = DeadlineSpec("fixed", interval.total_seconds(), reference.timestamp())
    else:
        if reference not in settings.DEADLINE_REFERENCES:
            raise ConfigurationError(
                f"deadline(): reference must be one of {', '.join(settings.DEADLINE_REFERENCES)} or a "
                f"datetime, got {reference!r}"
            )
        if interval <= timedelta(0):
            raise ConfigurationError("deadline(): give a positive allowance, e.g. deadline(hours=2)")
        airflow_reference = (
            api.DeadlineReference.DAGRUN_QUEUED_AT
            if reference == "queued"
            else api.DeadlineReference.DAGRUN_LOGICAL_DATE
        )
        spec = DeadlineSpec(reference, interval.total_seconds())
    options: dict[str, Any] = {"conn_id": conn_id, "mentions": list(mentions), "note": note}
    kwargs = {key: value for key, value in options.items() if value} | {SPEC_KWARG: spec.to_json()}
    return api.DeadlineAlert(
        reference=airflow_reference,
        interval=interval,
        callback=api.AsyncCallback(CALLBACK_PATH, kwargs=kwargs),
    )


def is_kit_deadline(alert: Any) -> bool:
    """Whether ``alert`` calls the kit's missed-deadline callback."""
    return getattr(getattr(alert, "callback", None), "path", None) == CALLBACK_PATH


def complete_dag(dag: Any) -> bool:
    """Write routing facts and sibling deadlines into the kit's deadline callbacks of ``dag``.

    Each kit deadline gets a copy of its callback whose kwargs carry the DAG's tags and owners (routing
    needs them, Airflow does not pass the DAG to a deadline callback), its own spec, and the specs of
    the DAG's other kit deadlines (so exactly one of them sends the finished-late follow-up). Copies,
    because one ``deadline(...)`` object may be shared by several DAGs of a file. Idempotent.

    :return: whether ``dag`` has a kit deadline.
    """
    from platform_kit.alerts.routing import dag_routing_facts

    alerts = list(getattr(dag, "deadline", None) or ())
    kit = [alert for alert in alerts if is_kit_deadline(alert)]
    if not kit:
        return False
    siblings = [DeadlineSpec.of_alert(alert).to_json() for alert in kit]
    facts = dag_routing_facts(dag)
    completed = []
    for alert in alerts:
        if is_kit_deadline(alert):
            own = DeadlineSpec.of_alert(alert).to_json()
            kwargs = {**alert.callback.kwargs, **facts, SPEC_KWARG: own, SIBLINGS_KWARG: siblings}
            alert = copy.copy(alert)
            alert.callback = type(alert.callback)(CALLBACK_PATH, kwargs=kwargs)
        completed.append(alert)
    dag.deadline = completed
    return True


def policy_deadline(dag: Any) -> Any | None:
    """The deadline the opt-in cluster policy gives ``dag``: ``None`` unless the DAG carries the tag set
    in ``[platform_kit] deadline_policy_tag``, declares no deadline of its own and has not opted out of
    the alerting policy (tag ``alerts:off``).

    :raises ConfigurationError: the policy's minutes or reference setting is invalid.
    """
    tag = settings.deadline_policy_tag()
    tags = set(getattr(dag, "tags", None) or ())
    if not tag or tag not in tags or settings.ALERTS_OPT_OUT_TAG in tags or getattr(dag, "deadline", None):
        return None
    minutes = settings.deadline_policy_minutes()
    if not minutes:
        return None
    return deadline(minutes=minutes, reference=settings.deadline_policy_reference())


def maintenance_deadline(dag_id: str) -> Any | None:
    """The deadline of maintenance DAG ``dag_id``: ``[platform_kit] <name>_deadline_minutes`` after a run
    is queued (defaults in :mod:`platform_kit.defaults`); ``None`` when set to 0."""
    minutes = settings.maintenance_deadline_minutes(dag_id)
    return deadline(minutes=minutes) if minutes else None

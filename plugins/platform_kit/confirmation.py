"""Dry run until confirmed: a run nobody triggered by hand deletes nothing until a person has.

A maintenance DAG that deletes (log files, metadata-DB rows, old backups and exports) is started either
by a person (the UI's Trigger button, the REST API, a backfill) or automatically (its schedule, the
backup Asset, another DAG). A run a person starts does what its Params say. An automatic run is a dry run
until the DAG is *confirmed*: a person has triggered a real run of it by hand and that run succeeded. The
run records this in the Variable ``<dag_id>_confirmed`` (:func:`platform_kit.settings.confirmation_variable`).
From then on, automatic runs that come due delete as their Params say. A run that was already due when the
person confirmed stays a dry run, such as the run the scheduler starts as soon as "Unpause on trigger"
unpauses a daily DAG.

Why: the UI's trigger dialog unpauses a paused DAG by default, and the scheduler then starts the latest
scheduled run at once, with the default Params (``dry_run`` off). A person who opened the form to do a
dry run first would otherwise get a real deletion next to it.

A deployment managed as code confirms up front with the Variable, e.g. the environment variable
``AIRFLOW_VAR_PLATFORM_KIT_LOG_CLEANUP_CONFIRMED=true``. Deleting the Variable, or setting it to
``false``, withdraws the confirmation.

Task adapters use it like this::

    gate = deletion_gate(dag_run, requested_dry_run=bool(params["dry_run"]))
    result = engine(..., dry_run=gate.dry_run)
    summary = {**result, **gate.summary()}
    gate.record()  # after the run succeeded
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from platform_kit.settings import confirmation_variable
from platform_kit.utils import one_line

log = logging.getLogger(__name__)

#: Run types a person starts. Everything else (scheduled, asset-triggered, operator-triggered and any
#: type a later Airflow adds) counts as automatic, the safe side.
PERSON_RUN_TYPES = frozenset({"manual", "backfill"})
#: Variable values that mean "not confirmed" (besides a missing Variable).
WITHDRAWN = frozenset({"", "false", "no", "0", "off"})


@dataclass(frozen=True)
class Confirmation:
    """What the Variable says: confirmed, and since when (``None`` = set by hand or as code, no time)."""

    since: datetime | None = None
    run_id: str | None = None


def parse_confirmation(value: Any) -> Confirmation | None:
    """Read the Variable's value: ``None`` when not confirmed.

    The kit writes JSON ``{"since": ISO time, "run_id": ..., "by": ...}``; any other value except
    ``false``/``no``/``0``/``off`` and blanks confirms without a time (``true``, ``yes``, a note).
    """
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() in WITHDRAWN:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return Confirmation()
    if not isinstance(data, dict):
        return None if data in (False, 0) else Confirmation()
    since = data.get("since")
    try:
        parsed = datetime.fromisoformat(since) if since else None
    except (TypeError, ValueError):
        parsed = None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # a time typed in by hand: Airflow's clock is UTC
    return Confirmation(since=parsed, run_id=data.get("run_id"))


@dataclass(frozen=True)
class DeletionGate:
    """Whether this run may delete, and why not.

    :param dag_id: the DAG (names the Variable).
    :param run_id: this run.
    :param run_type: ``manual``, ``scheduled``, ``asset_triggered``, ...; ``None`` outside a DAG run (a
        direct call, e.g. from a test or a script), which counts as a person's.
    :param run_after: when this run came due.
    :param requested_dry_run: what the run's Params ask for.
    :param confirmation: what the Variable says (read only for automatic runs that want to delete).
    """

    dag_id: str | None
    run_id: str | None
    run_type: str | None
    run_after: datetime | None
    requested_dry_run: bool
    confirmation: Confirmation | None = None
    triggered_by: str | None = None

    @property
    def by_person(self) -> bool:
        return self.run_type is None or self.run_type in PERSON_RUN_TYPES

    @property
    def confirmed_for_this_run(self) -> bool:
        """Confirmed, and before this run came due."""
        if self.confirmation is None:
            return False
        since = self.confirmation.since
        return since is None or self.run_after is None or self.run_after >= since

    @property
    def dry_run(self) -> bool:
        """What the run does: the Params' choice, or a dry run when an automatic run is not confirmed."""
        if self.requested_dry_run or self.by_person:
            return self.requested_dry_run
        return not self.confirmed_for_this_run

    @property
    def held_back(self) -> bool:
        """The Params asked for a real run and the gate made it a dry run."""
        return self.dry_run and not self.requested_dry_run

    def reason(self) -> str | None:
        """One line for the log and summary when the run was held back; ``None`` otherwise."""
        if not self.held_back:
            return None
        since = self.confirmation.since if self.confirmation else None
        if since is not None:
            return (
                f"nothing deleted: this {self.run_type} run came due before {self.dag_id} was confirmed "
                f"({since.astimezone(UTC):%Y-%m-%d %H:%M} UTC); runs due after that delete"
            )
        return (
            f"nothing deleted: a {self.run_type} run deletes nothing until a person has triggered one real "
            f"run of {self.dag_id} by hand, or set the Variable {confirmation_variable(self.dag_id or '')}"
        )

    def summary(self) -> dict[str, Any]:
        """What the run summary says about the gate: nothing unless the run was held back."""
        reason = self.reason()
        return {"held_back": reason} if reason else {}

    def record(self) -> None:
        """After a successful real run by hand, confirm the DAG (once; later runs leave it as it is)."""
        if self.dry_run or self.run_type not in PERSON_RUN_TYPES or not self.dag_id:
            return
        from airflow.sdk import Variable

        variable = confirmation_variable(self.dag_id)
        since = self.run_after.isoformat() if self.run_after else None
        try:
            if parse_confirmation(Variable.get(variable, default=None)) is not None:
                return
            Variable.set(
                variable,
                json.dumps({"since": since, "run_id": self.run_id, "by": self.triggered_by}),
                description=(
                    f"platform-kit: {self.dag_id} was run for real by hand, so its scheduled and "
                    "asset-triggered runs delete too. Delete this Variable to make them dry runs again."
                ),
            )
        except Exception as exc:
            # The run did its work; failing it now would only hide that. Automatic runs stay dry.
            log.warning("could not record the confirmation in the Variable %s: %s", variable, one_line(exc))
            return
        log.info("%s confirmed: automatic runs due from %s on delete as their Params say", self.dag_id, since)


def deletion_gate(dag_run: Any, *, requested_dry_run: bool) -> DeletionGate:
    """The gate for this run.

    :param dag_run: the task context's ``dag_run`` (``None`` when called outside a DAG run).
    :param requested_dry_run: the run's ``dry_run`` (or ``retention_dry_run``) Param.
    """
    if dag_run is None:
        return DeletionGate(None, None, None, None, requested_dry_run)
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)
    gate = DeletionGate(
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        run_type=str(run_type),
        run_after=getattr(dag_run, "run_after", None),
        requested_dry_run=requested_dry_run,
        triggered_by=getattr(dag_run, "triggering_user_name", None),
    )
    if requested_dry_run or gate.by_person:
        return gate
    from airflow.sdk import Variable

    confirmation = parse_confirmation(Variable.get(confirmation_variable(gate.dag_id), default=None))
    gate = DeletionGate(**{**gate.__dict__, "confirmation": confirmation})
    if gate.held_back:
        log.warning("%s", gate.reason())
    return gate

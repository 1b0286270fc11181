"""A run past its deadline: the missed-deadline alert, then the watch for its end and the follow-up.

Runs in the **triggerer**, as the coroutine behind the kit's Deadline Alert callback
(:func:`~platform_kit.alerts.callbacks.on_deadline_missed`):

1. It sends one missed-deadline alert: the DAG and run, the deadline and what it counts from, how late
   the run is, its state now (asked through the Execution API) and a link to the run, routed like every
   alert (the DAG's tags and owner were written into the callback's kwargs at parse time).
2. It then watches the run, asking its state through the Execution API every
   ``[platform_kit] deadline_followup_poll_seconds``, and when the run ends sends one "finished late"
   follow-up with the state and the total duration. Meanwhile it is a sleeping coroutine: no worker
   slot, one state request per poll, one trigger of the triggerer's capacity.

Why the follow-up comes from here and not from a DAG-level success/failure callback in the
dag-processor: Airflow gives a DAG callback no ``queued_at`` and no supported way to ask whether a
deadline was marked missed, so the dag-processor cannot tell a late run from one that finished in time.
This coroutine is the one place that knows for sure (Airflow only runs it for a missed deadline), so it
alone decides: exactly one follow-up. When a DAG has several kit deadlines, only the earliest one sends
the follow-up (it is missed whenever any of them is).

Airflow runs a trigger at least once: if the triggerer restarts while the run is still going, the
callback starts over and the missed-deadline alert is sent again. Nothing here ever raises.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from platform_kit.alerts.context import deadline_run
from platform_kit.alerts.deadlines import SIBLINGS_KWARG, SPEC_KWARG, DeadlineSpec
from platform_kit.exceptions import PlatformKitError

log = logging.getLogger("platform_kit.alerts")

TERMINAL_STATES = frozenset({"success", "failed"})
#: Consecutive failed state lookups after which the watch gives up (e.g. the run was deleted).
MAX_LOOKUP_FAILURES = 5

StateLookup = Callable[[str, str], Awaitable[str]]


async def handle_missed_deadline(
    context: Mapping[str, Any],
    options: Mapping[str, Any],
    *,
    run_state: StateLookup | None = None,
    poll_seconds: float | None = None,
    max_wait_seconds: float | None = None,
) -> str:
    """Send the missed-deadline alert for ``context``, then the finished-late follow-up when the run
    ends. Returns one line saying what was done (Airflow stores it as the callback's output).

    :param context: what Airflow passes a deadline callback (``dag_run``, ``deadline``).
    :param options: the callback's kwargs: ``conn_id``, ``mentions``, ``note``, the deadline specs and
        the DAG's routing facts (see :mod:`platform_kit.alerts.deadlines`).
    :param run_state: how to ask a run's state (default: the Execution API, through the triggerer).
    :param poll_seconds: how often to ask (default: ``[platform_kit] deadline_followup_poll_seconds``).
    :param max_wait_seconds: when to stop watching (default: ``deadline_followup_max_hours``; 0 = no
        follow-up).
    """
    try:
        return await _handle(context, options, run_state, poll_seconds, max_wait_seconds)
    except asyncio.CancelledError:
        # Airflow cancels the trigger when the run (and so its deadline) is deleted, or at shutdown.
        log.info("Deadline watch cancelled before the run ended")
        raise
    except Exception as exc:
        log.exception("Deadline alert not sent: unexpected error in the alerting plugin")
        return f"error: {type(exc).__name__}"


async def _handle(
    context: Mapping[str, Any],
    options: Mapping[str, Any],
    run_state: StateLookup | None,
    poll_seconds: float | None,
    max_wait_seconds: float | None,
) -> str:
    from platform_kit import settings
    from platform_kit.alerts.notifier import SlackNotifier, load_delivery_off_loop

    await load_delivery_off_loop()
    from platform_kit.alerts.routing import candidates_for

    run = deadline_run(context)
    dag_id, run_id, due = run["dag_id"], run["run_id"], run["deadline_time"]
    if not dag_id or not run_id or due is None:
        log.error("Deadline alert not sent: the context names no DAG run or deadline (%s)", sorted(context))
        return "no alert: the context names no DAG run or deadline"
    spec = DeadlineSpec.from_json(options.get(SPEC_KWARG) or {}) if options.get(SPEC_KWARG) else None
    run_state = run_state or _execution_api_state
    notifier = SlackNotifier(
        conn_id=options.get("conn_id") or None,
        mentions=tuple(options.get("mentions") or ()),
        note=options.get("note") or None,
    )
    candidates = candidates_for(
        options.get("dag_tags") or (), options.get("dag_owners") or (), notifier.conn_id
    )
    state = await _state_now(run_state, dag_id, run_id) or run["state"]
    reference = spec.describe(spec.reference_time(run["queued_at"], run["logical_date"])) if spec else None
    missed = notifier.missed_deadline_alert(
        context, reference=reference, state=state, owners=options.get("dag_owners") or ()
    )
    sent = await notifier.adeliver(missed, candidates)
    outcome = f"missed-deadline alert {'sent' if sent else 'not sent'} for {dag_id} {run_id}"

    if not _sends_follow_up(spec, options.get(SIBLINGS_KWARG) or (), run):
        return outcome + "; follow-up left to the DAG's earliest deadline"
    try:
        max_wait = (
            settings.deadline_followup_max_hours() * 3600 if max_wait_seconds is None else max_wait_seconds
        )
        poll = settings.deadline_followup_poll_seconds() if poll_seconds is None else poll_seconds
    except PlatformKitError as exc:
        log.error("No finished-late follow-up for %s %s: %s", dag_id, run_id, exc)
        return outcome + f"; no follow-up: {exc}"
    if not max_wait:
        return outcome + "; follow-up off"
    final = (
        state if state in TERMINAL_STATES else await _wait_for_end(run_state, dag_id, run_id, poll, max_wait)
    )
    if final is None:
        return outcome + "; the run did not end while watched, no follow-up"
    ended = run["end_date"] if state in TERMINAL_STATES and run["end_date"] else datetime.now(UTC)
    if ended <= due:
        # Airflow keeps the deadline of a run that failed before it, and calls back when it passes.
        return outcome + f"; the run had ended {final} before its deadline, no follow-up"
    started = run["start_date"] or run["queued_at"]
    late = replace(
        missed,
        kind="late",
        state=final,
        late_seconds=(ended - due).total_seconds(),
        duration_seconds=(ended - started).total_seconds() if started else None,
        mentions=(),
    )
    followed = await notifier.adeliver(late, candidates)
    return outcome + f"; finished-late follow-up ({final}) {'sent' if followed else 'not sent'}"


def _sends_follow_up(spec: DeadlineSpec | None, siblings: Sequence[Any], run: Mapping[str, Any]) -> bool:
    """Whether this deadline is the one of its DAG's kit deadlines that sends the follow-up: the earliest
    for this run, which is missed whenever any of them is (the first listed on a tie). When the others
    are unknown (a DAG not completed by the policy), this one does."""
    own = spec.due(run["queued_at"], run["logical_date"]) if spec else None
    specs = [DeadlineSpec.from_json(sibling) for sibling in siblings]
    dues = [
        (due, index) for index, s in enumerate(specs) if (due := s.due(run["queued_at"], run["logical_date"]))
    ]
    if own is None or not dues:
        return True
    earliest_due, index = min(dues)
    return earliest_due == own and specs[index] == spec


async def _state_now(run_state: StateLookup, dag_id: str, run_id: str) -> str | None:
    try:
        return str(await run_state(dag_id, run_id)).lower().rsplit(".", 1)[-1]
    except Exception as exc:
        log.warning("Could not ask the state of %s %s (%s); using the scheduler's", dag_id, run_id, exc)
        return None


async def _wait_for_end(
    run_state: StateLookup, dag_id: str, run_id: str, poll: float, max_wait: float
) -> str | None:
    """The run's final state, asked every ``poll`` seconds; ``None`` if it does not end within
    ``max_wait`` seconds or its state cannot be read ``MAX_LOOKUP_FAILURES`` times in a row."""
    give_up = time.monotonic() + max_wait
    failures = 0
    log.info("Watching %s %s until it ends (every %g s, for at most %g s)", dag_id, run_id, poll, max_wait)
    while time.monotonic() < give_up:
        await asyncio.sleep(min(poll, max(give_up - time.monotonic(), 0)))
        state = await _state_now(run_state, dag_id, run_id)
        if state is None:
            failures += 1
            if failures >= MAX_LOOKUP_FAILURES:
                log.error("No finished-late follow-up for %s %s: its state could not be read", dag_id, run_id)
                return None
            continue
        failures = 0
        if state in TERMINAL_STATES:
            return state
    log.warning("No finished-late follow-up for %s %s: still not done after %.0f s", dag_id, run_id, max_wait)
    return None


async def _execution_api_state(dag_id: str, run_id: str) -> str:
    from platform_kit.version_compat import adagrun_state

    return await adagrun_state(dag_id, run_id)

"""``SlackNotifier``: the BaseNotifier every DAG can attach, at task or DAG level.

Task level (``default_args={"on_failure_callback": SlackNotifier()}``) runs in the worker after the task
finished; DAG level (``DAG(on_failure_callback=SlackNotifier())``) runs in the dag-processor, whose context
has ``reason`` and no ``exception``; a Deadline Alert context (``await notifier.async_notify(context)`` in
the triggerer) gives a missed-deadline alert. The same instance works in any callback slot: unless told
with ``on=``, it reads what happened from the context.

Whatever goes wrong inside, ``notify`` returns normally: Airflow would only log the exception anyway, and
a callback that raises or hangs is exactly what platform teams cannot afford.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from airflow.sdk import BaseNotifier

from platform_kit.alerts.context import (
    alert_from_context,
    alert_from_deadline_context,
    alert_kind_from_context,
    is_deadline_context,
)
from platform_kit.alerts.history import failed_task_ids, is_recovery
from platform_kit.alerts.message import ALL_FIELDS, Alert, AlertKind
from platform_kit.alerts.text import is_local_url

log = logging.getLogger("platform_kit.alerts")

#: Shown as the error when a failure context carries no exception: Airflow runs the callback from the
#: dag-processor for task processes that died (OOM kill, SIGKILL, heartbeat timeout).
NO_EXCEPTION_NOTE = (
    "No exception was captured: the task process was probably killed (out of memory, SIGKILL) or lost "
    "its heartbeat. See the log."
)
DEDUP_SECONDS = 600.0

_sent: dict[tuple, float] = {}
_sent_lock = threading.Lock()
_warned_localhost = False


class SlackNotifier(BaseNotifier):
    """Send a ready-made alert (Slack blocks, or Telegram) for the callback it is attached to.

    :param conn_id: connection to send to. ``None`` (default) routes by DAG tags and owner, then
        ``slack_default``, then the ``slack_url`` Variable (see :mod:`platform_kit.alerts.routing`).
    :param mentions: who to notify, e.g. ``["U024BE7LH", "here", "subteam^SAZ94GDB8"]``.
    :param mention_on: the alert kinds that carry the mentions (default: failures and missed deadlines,
        so a retry, a recovery or a finished-late follow-up never pages anyone).
    :param fields: which fields to show, from ``dag, task, run_id, try, state, deadline, late_by,
        duration, date, owner, reason, failed_tasks, exception, log_url`` (default: all).
    :param on: force the alert kind (``failure``, ``retry``, ``success``); default: read it from the
        context (task state, or the DAG-level ``reason``).
    :param success: ``"recovery"`` (default) sends a success alert only when it follows a failure;
        ``"always"`` sends one for every success.
    :param note: an extra line, rendered with Jinja (``"Runbook: https://wiki/{{ dag.dag_id }}"``).
    """

    template_fields = ("note",)

    def __init__(
        self,
        *,
        conn_id: str | None = None,
        mentions: Sequence[str] = (),
        mention_on: Sequence[str] = ("failure", "deadline"),
        fields: Sequence[str] | None = None,
        on: AlertKind | None = None,
        success: str = "recovery",
        note: str | None = None,
    ) -> None:
        super().__init__()
        unknown = sorted(set(fields or ()) - set(ALL_FIELDS))
        if unknown:
            raise ValueError(f"SlackNotifier: unknown field(s) {unknown}; choose from {list(ALL_FIELDS)}")
        if success not in ("recovery", "always"):
            raise ValueError("SlackNotifier: success must be 'recovery' or 'always'")
        self.conn_id = conn_id
        self.mentions = tuple(mentions)
        self.mention_on = tuple(mention_on)
        self.fields = tuple(fields) if fields else None
        self.on = on
        self.success = success
        self.note = note

    def render_template_fields(self, context, jinja_env=None) -> None:
        if not self.note or "{" not in self.note:
            return
        try:
            super().render_template_fields(context, jinja_env)
        except AttributeError:
            # dag.test() hands DAG-level callbacks a SerializedDAG without get_template_env (#64649).
            from jinja2.sandbox import SandboxedEnvironment

            super().render_template_fields(context, SandboxedEnvironment())
        except Exception as exc:
            log.warning("Alert note not rendered (%s); sending it as written", exc)

    def __call__(self, *args) -> None:
        try:
            super().__call__(*args)
        except Exception:
            # notify() never raises; this catches template rendering errors so the callback never does.
            log.exception("Alert not sent: unexpected error in the alerting plugin")

    def notify(self, context: Any) -> None:
        try:
            self._notify(context)
        except Exception:
            log.exception("Alert not sent: unexpected error in the alerting plugin")

    async def async_notify(self, context: Any) -> None:
        """For the triggerer (Deadline Alerts' ``AsyncCallback``) and other event loops.

        A deadline context is handled natively: connection lookups through the Task SDK's async path,
        the HTTP delivery (bounded by the same cap) in a worker thread, so the loop is never blocked.
        Other contexts run :meth:`notify` in a worker thread that may call the Task SDK.
        """
        try:
            if is_deadline_context(context):
                await self.adeliver(self.missed_deadline_alert(context))
            else:
                from platform_kit.version_compat import to_thread_with_sdk

                await to_thread_with_sdk(self.notify, context)
        except Exception:
            log.exception("Alert not sent: unexpected error in the alerting plugin")

    def _notify(self, context: Any) -> None:
        from platform_kit.alerts.routing import resolve_target

        alert = self._alert_for(context)
        if alert is not None and self._should_send(alert):
            self._send(alert, resolve_target(context, self.conn_id))

    def _alert_for(self, context: Any) -> Alert | None:
        """The alert this context calls for, or ``None`` when it calls for none (a plain success)."""
        if is_deadline_context(context):
            return self.missed_deadline_alert(context)
        kind: AlertKind = self.on or alert_kind_from_context(context)
        if kind == "success":
            if is_recovery(context):
                kind = "recovery"
            elif self.success == "recovery":
                log.info("No alert: success without an earlier failure")
                return None
        alert = alert_from_context(
            context,
            kind,
            mentions=self.mentions if kind in self.mention_on else (),
            fields=self.fields,
            note=self.note,
        )
        if alert.is_dag_level:
            if kind == "failure" and "failed_tasks" in alert.fields:
                alert = replace(alert, failed_tasks=failed_task_ids(context))
        elif kind in ("failure", "retry") and "exception" not in context:
            alert = replace(alert, exception=NO_EXCEPTION_NOTE)
        return alert

    def missed_deadline_alert(self, context: Any, **details: Any) -> Alert:
        """The missed-deadline alert for a Deadline Alert context (``details``: see
        :func:`~platform_kit.alerts.context.alert_from_deadline_context`)."""
        alert = alert_from_deadline_context(
            context,
            mentions=self.mentions if "deadline" in self.mention_on else (),
            note=self.note,
            **details,
        )
        return replace(alert, fields=tuple(f for f in (self.fields or ALL_FIELDS) if f in ALL_FIELDS))

    async def adeliver(self, alert: Alert, candidates: Sequence[str] | None = None) -> bool:
        """Route and send ``alert`` from an event loop; ``candidates`` are the connection ids to try
        (default: this notifier's ``conn_id``, then ``slack_default``). Never raises, never blocks the
        loop; returns whether the alert was accepted."""
        import asyncio

        try:
            await load_delivery_off_loop()
            from platform_kit.alerts.routing import aresolve_candidates, candidates_for

            if not self._should_send(alert):
                return False
            default = candidates_for((), (), self.conn_id)
            target = await aresolve_candidates(candidates or default, self.conn_id)
            return await asyncio.to_thread(self._send, alert, target)
        except Exception:
            log.exception("Alert not sent: unexpected error in the alerting plugin")
            return False

    def _should_send(self, alert: Alert) -> bool:
        if _is_duplicate(alert):
            log.info(
                "No alert: the same %s alert for %s was sent within 10 minutes", alert.kind, alert.subject
            )
            return False
        _warn_localhost(alert.log_url)
        return True

    def _send(self, alert: Alert, target: Any) -> bool:
        from platform_kit.alerts.dispatch import send_alert

        if target is None:
            log.error(
                "Alert for %s dropped: no alert connection found (tried %s and the Variable slack_url). "
                "Create connection slack_default (conn type slackwebhook, webhook URL as password).",
                alert.subject,
                self.conn_id or "routing by tag/owner, slack_default",
            )
            return False
        if send_alert(alert, target).ok:
            _remember(alert)
            return True
        return False


async def load_delivery_off_loop() -> None:
    """Import routing and delivery (``requests``, ``urllib3``) in a worker thread the first time: on a
    busy host that takes seconds, which must not stall the triggerer's event loop."""
    import sys

    if "platform_kit.alerts.dispatch" not in sys.modules:
        import asyncio
        import importlib

        await asyncio.to_thread(importlib.import_module, "platform_kit.alerts.dispatch")


def _dedup_key(alert) -> tuple:
    return (
        alert.kind,
        alert.dag_id,
        alert.task_id,
        alert.run_id,
        alert.map_index,
        alert.try_number,
        alert.deadline,  # two deadlines of one run are two alerts
    )


def _is_duplicate(alert) -> bool:
    """Same kind, task, run and try delivered within ``DEDUP_SECONDS`` by this process (e.g. a callback
    listed twice, or set both by the cluster policy and by hand). Dropped alerts are not remembered, so
    they are tried again."""
    now = time.monotonic()
    with _sent_lock:
        for old_key, when in list(_sent.items()):
            if now - when > DEDUP_SECONDS:
                del _sent[old_key]
        return _dedup_key(alert) in _sent


def _remember(alert) -> None:
    with _sent_lock:
        _sent[_dedup_key(alert)] = time.monotonic()


def forget_sent_alerts() -> None:
    """Clear the duplicate-suppression memory (tests, or to re-send on purpose)."""
    with _sent_lock:
        _sent.clear()


def _warn_localhost(url: str | None) -> None:
    global _warned_localhost
    if url and is_local_url(url) and not _warned_localhost:
        _warned_localhost = True
        log.warning(
            "Alert log links point at localhost: set [api] base_url (AIRFLOW__API__BASE_URL) on the "
            "workers and the dag-processor so links open from Slack."
        )

"""Send an :class:`~platform_kit.alerts.message.Alert` to a target, whatever its transport.

Every public function here returns ``False``/a result instead of raising: alerting must never change the
outcome of the task or DAG run it reports on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from platform_kit.alerts.connections import AlertTarget, get_target
from platform_kit.alerts.delivery import DeliveryResult, post_json
from platform_kit.alerts.message import Alert
from platform_kit.alerts.routing import DEFAULT_CONN_ID
from platform_kit.alerts.slack import check_slack_limits, render_slack, shrink_to_limits

log = logging.getLogger(__name__)


def render_for(alert: Alert, target: AlertTarget) -> dict[str, Any]:
    """The request body ``target`` expects for ``alert``."""
    if target.transport == "telegram":
        from platform_kit.alerts.telegram import render_telegram

        return render_telegram(alert, target.chat_id or "")
    payload = render_slack(alert)
    problems = check_slack_limits(payload)
    if problems:
        # render_slack is built to stay within the limits; this guards against a case it missed.
        log.warning("Alert payload trimmed to Slack's limits: %s", "; ".join(problems))
        payload = shrink_to_limits(payload)
    return payload


def send_alert(alert: Alert, target: AlertTarget) -> DeliveryResult:
    """Render and POST ``alert`` to ``target``; never raises."""
    try:
        payload = render_for(alert, target)
    except Exception as exc:  # a rendering bug must not cost the alert: send the bare headline instead
        log.exception("Could not render the alert; sending its headline only")
        payload = (
            {"chat_id": target.chat_id, "text": alert.headline()}
            if target.transport == "telegram"
            else {"text": f"{alert.headline()} (full message failed to render: {type(exc).__name__})"}
        )
    what = f"{alert.kind.capitalize()} alert for {alert.subject or alert.title}"
    result = post_json(target.url, payload, target=target.name, options=target.options, what=what)
    if result.ok:
        log.info("Sent %s alert for %s to %s", alert.kind, alert.subject or alert.title, target.name)
    return result


def send_summary(title: str, summary: Mapping[str, Any], *, conn_id: str | None = None) -> bool:
    """Post a maintenance run's summary (what it deleted, uploaded, how long it took); never raises.

    :param title: one line naming the run, e.g. ``"Log cleanup (dry run)"``.
    :param summary: the run's facts; values that are not strings are shown as compact JSON.
    :param conn_id: the connection to post to (default ``slack_default``, then the ``slack_url``
        Variable).
    :return: whether the message was accepted.
    """
    try:
        facts = tuple(
            (str(key), value if isinstance(value, str) else json.dumps(value, default=str))
            for key, value in summary.items()
        )
        target = get_target(conn_id or DEFAULT_CONN_ID)
        if target is None and not conn_id:
            from platform_kit.alerts.connections import variable_target

            target = variable_target()
        if target is None:
            log.error(
                "Summary not sent: no alert connection %r. Create it (type slackwebhook) or pass another.",
                conn_id or DEFAULT_CONN_ID,
            )
            return False
        return send_alert(Alert(kind="summary", title=title, facts=facts), target).ok
    except Exception:
        log.exception("Summary not sent: unexpected error in the alerting plugin")
        return False

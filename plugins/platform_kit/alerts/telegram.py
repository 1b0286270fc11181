"""Telegram as a second alert target: the same :class:`~platform_kit.alerts.message.Alert`, sent with the
Bot API ``sendMessage`` method (HTML parse mode), through the same bounded delivery as Slack.

Configure a connection of type ``telegram``: password = bot token, host (or extra ``chat_id``) = chat id,
optional extra ``api_base_url``. Route a team to it by naming it ``slack_<team>`` (see
:mod:`platform_kit.alerts.routing`) or pass its id to ``SlackNotifier(conn_id=...)``.
"""

from __future__ import annotations

import html
from typing import Any

from platform_kit.alerts.message import Alert
from platform_kit.alerts.slack import render_text
from platform_kit.alerts.text import fit_escaped

#: Bot API limit for a message's text after entity parsing.
TELEGRAM_TEXT_LIMIT = 4_096


def escape_telegram(text: str) -> str:
    """Telegram's HTML parse mode needs exactly ``&``, ``<`` and ``>`` escaped."""
    return html.escape(text, quote=False)


def render_telegram(alert: Alert, chat_id: str) -> dict[str, Any]:
    """A ``sendMessage`` body for ``alert``; falls back to plain text if the HTML would be too long."""
    lines = [f"<b>{escape_telegram(alert.headline())}</b>"]
    lines.extend(f"<b>{escape_telegram(k)}:</b> {escape_telegram(v)}" for k, v in alert.field_values())
    lines.extend(f"<b>{escape_telegram(k)}:</b> {escape_telegram(v)}" for k, v in alert.facts)
    if alert.note:
        lines.append(escape_telegram(alert.note))
    if alert.exception and "exception" in alert.fields:
        lines.append(f"<pre>{fit_escaped(alert.exception, 1_500, escape=escape_telegram)}</pre>")
    if alert.log_url and "log_url" in alert.fields:
        lines.append(f'<a href="{html.escape(alert.log_url, quote=True)}">{alert.link_label}</a>')
    text = "\n".join(lines)
    if len(text) > TELEGRAM_TEXT_LIMIT:
        # Cutting HTML could leave a tag open, which Telegram rejects: send plain text instead.
        return {
            "chat_id": chat_id,
            "text": render_text(alert, TELEGRAM_TEXT_LIMIT, escape=str),
            "disable_web_page_preview": True,
        }
    return {"chat_id": chat_id, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True}

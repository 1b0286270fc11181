"""An :class:`~platform_kit.alerts.message.Alert` rendered for Slack: Block Kit plus the plain-text fallback.

Pure functions: they never touch the network or Airflow, which keeps them cheap to unit-test and lets
``platform-kit alerts render`` show the exact payload offline.

Slack limits enforced here (https://api.slack.com/reference/block-kit): top-level ``text`` kept under
4,000 characters (Slack truncates at 40,000), at most 50 blocks, section ``text`` at most 3,000
characters, at most 10 section ``fields`` of at most 2,000 characters, header ``plain_text`` at most 150.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from platform_kit.alerts.message import Alert
from platform_kit.alerts.text import escape_slack, fit_escaped, is_local_url

SLACK_TEXT_LIMIT = 4_000
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_TEXT_LIMIT = 3_000
SLACK_FIELD_LIMIT = 2_000
SLACK_MAX_FIELDS = 10
SLACK_HEADER_LIMIT = 150
# Slack rejects payloads whose blocks add up to roughly 13 k characters (``msg_blocks_too_long``).
SLACK_BLOCKS_TOTAL_LIMIT = 12_000
#: How much of an exception message an alert carries; the log link has the rest.

# Per-part budgets chosen so that all blocks together stay under SLACK_BLOCKS_TOTAL_LIMIT:
# header 150 + mentions 500 + 10 fields x 250 + overflow 1,000 + facts 2,500 + note 1,000
# + error 2,900 + link 1,000 + warning 150 = 11,700.
FIELD_VALUE_LIMIT = 250
OVERFLOW_LIMIT = 1_000
FACTS_LIMIT = 2_500
NOTE_LIMIT = 1_000
MENTIONS_LIMIT = 500
LINK_LIMIT = 1_000
ERROR_LIMIT = 2_900


def render_slack(alert: Alert) -> dict[str, Any]:
    """Block Kit payload plus the plain-text fallback Slack shows in notifications.

    The result passes :func:`check_slack_limits` for any input: every piece of user-controlled text is
    escaped and cut to its block's limit.
    """
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": fit_escaped(alert.headline(), SLACK_HEADER_LIMIT),
                "emoji": True,
            },
        }
    ]
    if alert.mentions:
        # Mentions are Slack syntax (``<@U123>``) and must not be escaped; they are validated instead.
        blocks.append(_section(_join_within(alert.mentions, MENTIONS_LIMIT)))
    short = alert.field_values()
    if short:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": fit_escaped_labelled(label, value, FIELD_VALUE_LIMIT),
                    }
                    for label, value in short[:SLACK_MAX_FIELDS]
                ],
            }
        )
        if len(short) > SLACK_MAX_FIELDS:
            rest = "\n".join(f"{label}: {value}" for label, value in short[SLACK_MAX_FIELDS:])
            blocks.append(_section(fit_escaped(rest, OVERFLOW_LIMIT)))
    if alert.facts:
        blocks.append(_section(_facts_text(alert.facts, FACTS_LIMIT)))
    if alert.note:
        blocks.append(_section(fit_escaped(alert.note, NOTE_LIMIT)))
    if alert.exception and "exception" in alert.fields:
        code = fit_escaped(alert.exception, ERROR_LIMIT - len("*Error*\n``````"))
        blocks.append(_section(f"*Error*\n```{code}```"))
    if alert.log_url and "log_url" in alert.fields and len(alert.log_url) <= LINK_LIMIT - 20:
        blocks.append(_section(f"<{_link_target(alert.log_url)}|{alert.link_label}>"))
        if is_local_url(alert.log_url):
            blocks.append(
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": ":warning: This link points at localhost: set `[api] base_url` "
                            "(AIRFLOW__API__BASE_URL) on every Airflow component.",
                        }
                    ],
                }
            )
    return {"text": render_text(alert), "blocks": blocks[:SLACK_MAX_BLOCKS]}


def fit_escaped_labelled(label: str, value: str, limit: int) -> str:
    prefix = f"*{label}:*\n"
    return prefix + fit_escaped(value, limit - len(prefix))


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _facts_text(facts: Sequence[tuple[str, str]], limit: int) -> str:
    """``*key:* value`` lines, escaped, cut at a line boundary, saying how many lines were left out."""
    lines: list[str] = []
    used = 0
    for index, (key, value) in enumerate(facts):
        line = f"*{fit_escaped(key, 80)}:* {fit_escaped(value, 400)}"
        if used + len(line) + 1 > limit - 60:
            lines.append(f"_…and {len(facts) - index} more: see the task log._")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _join_within(items: Sequence[str], limit: int) -> str:
    """Join whole items (mentions must not be cut) up to ``limit`` characters."""
    text = ""
    for item in items:
        candidate = f"{text} {item}" if text else item
        if len(candidate) > limit:
            break
        text = candidate
    return text


def _link_target(url: str) -> str:
    # Inside ``<url|label>`` only ``|`` and ``>`` break the link; Slack expects ``&`` as ``&amp;``.
    return url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")


def render_text(alert: Alert, limit: int = SLACK_TEXT_LIMIT, escape=escape_slack) -> str:
    """Plain-text rendering: the Slack notification fallback and the body of other transports."""
    lines = [alert.headline()]
    if alert.mentions and escape is escape_slack:
        lines.insert(0, " ".join(alert.mentions))
        escaped_prefix = 1
    else:
        escaped_prefix = 0
    lines.extend(f"{label}: {value}" for label, value in alert.field_values())
    lines.extend(f"{key}: {value}" for key, value in alert.facts)
    if alert.note:
        lines.append(alert.note)
    if alert.exception and "exception" in alert.fields:
        lines.append(f"Error: {alert.exception}")
    if alert.log_url and "log_url" in alert.fields:
        lines.append(f"{alert.link_label.split()[1].capitalize()}: {alert.log_url}")
    head = lines[:escaped_prefix]
    body = "\n".join(lines[escaped_prefix:])
    prefix = ("\n".join(head) + "\n") if head else ""
    return prefix + fit_escaped(body, limit - len(prefix), escape=escape)


def check_slack_limits(payload: Mapping[str, Any]) -> list[str]:
    """Problems that would make Slack reject or cut ``payload``; an empty list means it fits."""
    problems: list[str] = []
    text = payload.get("text") or ""
    if not text:
        problems.append("text: missing (Slack needs it as the notification fallback)")
    elif len(text) > SLACK_TEXT_LIMIT:
        problems.append(f"text: {len(text)} characters > {SLACK_TEXT_LIMIT}")
    blocks = payload.get("blocks") or []
    if len(blocks) > SLACK_MAX_BLOCKS:
        problems.append(f"blocks: {len(blocks)} > {SLACK_MAX_BLOCKS}")
    total = 0
    for index, block in enumerate(blocks):
        kind = block.get("type")
        texts = _block_texts(block)
        total += sum(len(t) for t in texts)
        if kind == "header" and len(block["text"]["text"]) > SLACK_HEADER_LIMIT:
            problems.append(f"blocks[{index}] header: {len(block['text']['text'])} > {SLACK_HEADER_LIMIT}")
        if kind == "section":
            if "text" in block and len(block["text"]["text"]) > SLACK_SECTION_TEXT_LIMIT:
                problems.append(
                    f"blocks[{index}] section text: {len(block['text']['text'])} > {SLACK_SECTION_TEXT_LIMIT}"
                )
            fields = block.get("fields") or []
            if len(fields) > SLACK_MAX_FIELDS:
                problems.append(f"blocks[{index}] fields: {len(fields)} > {SLACK_MAX_FIELDS}")
            problems.extend(
                f"blocks[{index}] field {n}: {len(f['text'])} > {SLACK_FIELD_LIMIT}"
                for n, f in enumerate(fields)
                if len(f["text"]) > SLACK_FIELD_LIMIT
            )
    if total > SLACK_BLOCKS_TOTAL_LIMIT:
        problems.append(f"blocks: {total} characters in all > {SLACK_BLOCKS_TOTAL_LIMIT}")
    return problems


def _block_texts(block: Mapping[str, Any]) -> list[str]:
    texts = []
    if isinstance(block.get("text"), Mapping):
        texts.append(block["text"].get("text", ""))
    texts.extend(f.get("text", "") for f in block.get("fields") or [])
    texts.extend(e.get("text", "") for e in block.get("elements") or [] if isinstance(e, Mapping))
    return texts


def shrink_to_limits(payload: dict[str, Any]) -> dict[str, Any]:
    """Last line of defence: drop trailing blocks until the payload fits (``text`` always stays)."""
    blocks = list(payload.get("blocks") or [])
    while blocks and check_slack_limits({**payload, "blocks": blocks}):
        blocks.pop()
    return {**payload, "blocks": blocks}

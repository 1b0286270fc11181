"""The alert message model and its renderings: Slack Block Kit (+ plain-text fallback) and Telegram HTML.

An :class:`Alert` is built once from an Airflow callback context (:func:`alert_from_context`) and rendered
for each transport, so every target says the same thing. Renderers are pure functions: they never touch
the network or Airflow, which keeps them cheap to unit-test and lets ``platform-kit alerts render`` show
the exact payload offline.

Slack limits enforced here (https://api.slack.com/reference/block-kit): top-level ``text`` kept under
4,000 characters (Slack truncates at 40,000), at most 50 blocks, section ``text`` at most 3,000
characters, at most 10 section ``fields`` of at most 2,000 characters, header ``plain_text`` at most 150.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

AlertKind = Literal["failure", "retry", "success", "recovery", "summary", "test"]

SLACK_TEXT_LIMIT = 4_000
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_TEXT_LIMIT = 3_000
SLACK_FIELD_LIMIT = 2_000
SLACK_MAX_FIELDS = 10
SLACK_HEADER_LIMIT = 150
# Slack rejects payloads whose blocks add up to roughly 13 k characters (``msg_blocks_too_long``).
SLACK_BLOCKS_TOTAL_LIMIT = 12_000
#: How much of an exception message an alert carries; the log link has the rest.
EXCEPTION_LIMIT = 1_500
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

#: Every field an alert can show, in display order. ``SlackNotifier(fields=...)`` picks a subset.
ALL_FIELDS: tuple[str, ...] = (
    "dag",
    "task",
    "run_id",
    "try",
    "state",
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
    "summary": ("\U0001f4cb", "Summary"),
    "test": ("\U0001f9ea", "Test alert"),
}


@dataclass(frozen=True)
class Alert:
    """Everything one alert says, independent of where it is sent.

    :param kind: ``failure``, ``retry``, ``success``, ``recovery``, ``summary`` or ``test``.
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


# ---------------------------------------------------------------------------------------------------------
# Escaping and truncation


def escape_slack(text: str) -> str:
    """Escape the three characters Slack treats as control sequences (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with ``marker`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(marker), 0)] + marker


def fit_escaped(raw: str, limit: int, escape=escape_slack) -> str:
    """Escape ``raw`` and keep the result within ``limit`` without cutting an entity in half.

    Truncation happens on the raw text, so ``&amp;`` is either whole or absent.
    """
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped
    budget = limit - 1
    while budget > 0:
        candidate = escape(raw[:budget]) + "…"
        if len(candidate) <= limit:
            return candidate
        # Each escape adds at most 4 characters, so shrink by the overflow rather than one by one.
        budget -= max(1, (len(candidate) - limit + 3) // 4)
    return "…"


def describe_exception(exc: object | None, limit: int = EXCEPTION_LIMIT) -> str | None:
    """``ValueError: bad row 7`` for an exception, the string itself otherwise; secrets redacted.

    Only the first line is kept in the one-line form Airflow logs use; the full traceback is behind
    the log link.
    """
    if exc is None:
        return None
    if isinstance(exc, BaseException):
        message = str(exc).strip()
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    else:
        text = str(exc).strip()
    return truncate(_redact(text), limit, marker=" … (truncated, see the log)")


def _redact(text: str) -> str:
    """Mask registered secrets (connection passwords, webhook URLs) the way Airflow masks task logs."""
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:  # pragma: no cover - depends on the Task SDK layout
        return text
    try:
        return str(redact(text))
    except Exception:  # the masker is best effort; never lose the alert over it
        return text


def is_local_url(url: str | None) -> bool:
    """True when ``url`` points at localhost, i.e. ``[api] base_url`` was left unset."""
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0")


# ---------------------------------------------------------------------------------------------------------
# Slack


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


# ---------------------------------------------------------------------------------------------------------
# From an Airflow callback context


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
        from airflow.configuration import conf

        base_url = conf.get("api", "base_url", fallback="http://localhost:8080/")
    except Exception:
        base_url = "http://localhost:8080/"
    return f"{(base_url or 'http://localhost:8080/').rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}"

"""One way for every maintenance DAG to report what a run did.

A task builds a plain ``dict`` (counts, bytes, durations, destinations), passes it to :func:`report`,
and returns the result so it lands in XCom. The same dict is logged as one readable block and, when a
Slack connection is given, posted through the alerting plugin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


HUMAN_SUFFIX = "_human"


def readable(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary as people read it: each byte count merged with its ``<key>_human`` twin.

    ``{"bytes_deleted": 7310034944, "bytes_deleted_human": "6.8 GiB"}`` becomes
    ``{"bytes_deleted": "6.8 GiB (7,310,034,944 bytes)"}``, in nested mappings and lists too. XCom keeps
    both keys (tools read the number); the log and Slack show this.
    """
    result: dict[str, Any] = {}
    for key, value in summary.items():
        human = summary.get(f"{key}{HUMAN_SUFFIX}")
        if key.endswith(HUMAN_SUFFIX) and key[: -len(HUMAN_SUFFIX)] in summary:
            continue
        if isinstance(human, str) and isinstance(value, int) and not isinstance(value, bool):
            result[key] = f"{human} ({value:,} bytes)"
        else:
            result[key] = _readable_value(value)
    return result


def _readable_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return readable(value)
    if isinstance(value, list | tuple):
        return [_readable_value(item) for item in value]
    return value


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _lines(summary: Mapping[str, Any], indent: str) -> list[str]:
    lines = []
    for key, value in summary.items():
        if isinstance(value, Mapping) and value:
            lines.append(f"{indent}{key}:")
            lines += _lines(value, indent + "  ")
        elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
            lines.append(f"{indent}{key}:")
            lines += [
                f"{indent}  - " + ", ".join(f"{k}: {_scalar(v)}" for k, v in item.items()) for item in value
            ]
        else:
            lines.append(f"{indent}{key}: {_scalar(value)}")
    return lines


def format_summary(title: str, summary: Mapping[str, Any]) -> str:
    """Render a summary for people: ``title``, then one ``key: value`` line per fact.

    Sizes read ``6.8 GiB (7,310,034,944 bytes)``; a nested mapping is indented below its key, a list of
    mappings (``top_dags``) is one ``- ...`` line per entry.
    """
    return "\n".join([title, *_lines(readable(summary), "  ")])


def report(
    title: str,
    summary: Mapping[str, Any],
    *,
    slack_conn_id: str | None = None,
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """Log ``summary`` under ``title``, optionally post it to Slack, and return it for XCom.

    :param title: one line naming the run, e.g. ``"Log cleanup (dry run)"``.
    :param summary: JSON-serialisable facts about the run. Never put secret values in it.
    :param slack_conn_id: when set, the summary is also sent through the alerting plugin to this
        connection; delivery problems are logged and never fail the task.
    :param logger: where to log (defaults to this module's logger).
    """
    (logger or log).info("%s", format_summary(title, summary))
    if slack_conn_id:
        from platform_kit.alerts import send_summary

        send_summary(title, readable(summary), conn_id=slack_conn_id)
    return dict(summary)

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


def format_summary(title: str, summary: Mapping[str, Any]) -> str:
    """Render a summary as ``title`` followed by one ``key: value`` line per entry."""
    lines = [title]
    for key, value in summary.items():
        rendered = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=False)
        lines.append(f"  {key}: {rendered}")
    return "\n".join(lines)


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

        send_summary(title, summary, conn_id=slack_conn_id)
    return dict(summary)

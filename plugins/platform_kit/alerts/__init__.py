"""Alerting for Airflow 3: ready-made Slack (and Telegram) alerts that never hurt the task.

Public surface::

    from platform_kit.alerts import (
        on_failure_callback, on_retry_callback, on_success_callback,  # plain callbacks
        SlackNotifier,                                                # BaseNotifier with options
        deadline,                                                     # DAG(deadline=deadline(hours=2))
        send_summary,                                                 # maintenance run summaries
    )

Attributes load lazily: the cluster policy imports this package while Airflow itself is still
initialising, and DAG files should not pay for ``requests`` until a callback actually fires.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "on_failure_callback": "platform_kit.alerts.callbacks",
    "on_retry_callback": "platform_kit.alerts.callbacks",
    "on_success_callback": "platform_kit.alerts.callbacks",
    "SlackNotifier": "platform_kit.alerts.notifier",
    "deadline": "platform_kit.alerts.deadlines",
    "on_deadline_missed": "platform_kit.alerts.callbacks",
    "send_summary": "platform_kit.alerts.dispatch",
}

__all__ = [
    "SlackNotifier",
    "deadline",
    "on_deadline_missed",
    "on_failure_callback",
    "on_retry_callback",
    "on_success_callback",
    "send_summary",
]

if TYPE_CHECKING:
    from platform_kit.alerts.callbacks import (
        on_deadline_missed,
        on_failure_callback,
        on_retry_callback,
        on_success_callback,
    )
    from platform_kit.alerts.deadlines import deadline
    from platform_kit.alerts.dispatch import send_summary
    from platform_kit.alerts.notifier import SlackNotifier


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'platform_kit.alerts' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

"""Plain callback functions for ``default_args`` or a DAG: the zero-option way to get alerts.

    from platform_kit.alerts import on_failure_callback, on_retry_callback, on_success_callback

    default_args = {
        "on_failure_callback": on_failure_callback,  # terminal failure only
        "on_retry_callback": on_retry_callback,      # "Retrying after try 1 of 3", never "Failed"
        "on_success_callback": on_success_callback,  # only when it recovers from a failure
    }

They route by tag and owner like :class:`~platform_kit.alerts.notifier.SlackNotifier` (which they use),
work in the worker and in the dag-processor, and never raise.

:func:`on_deadline_missed` is the Deadline Alert callback (an ``AsyncCallback``, run in the triggerer);
declare it with :func:`platform_kit.alerts.deadline` rather than by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platform_kit.alerts.notifier import SlackNotifier

_failure = SlackNotifier(on="failure")
_retry = SlackNotifier(on="retry")
_success = SlackNotifier(on="success")


def on_failure_callback(context: Any) -> None:
    """Alert that a task failed for good (or, on a DAG, that the run failed)."""
    _failure.notify(context)


def on_retry_callback(context: Any) -> None:
    """Alert that a task failed an attempt and will be retried; worded as a retry, without mentions."""
    _retry.notify(context)


def on_success_callback(context: Any) -> None:
    """Alert that a task (or DAG run) succeeded after a failure; quiet otherwise."""
    _success.notify(context)


async def on_deadline_missed(context: Mapping[str, Any] | None = None, **options: Any) -> str:
    """A DAG run missed its deadline: alert once, then follow up once when the run ends.

    Airflow calls it in the triggerer with the run and the deadline in ``context`` and the kwargs given
    to the ``AsyncCallback`` in ``options`` (see :mod:`platform_kit.alerts.late_runs`). Never raises;
    returns one line saying what it did, which Airflow keeps as the callback's output.
    """
    from platform_kit.alerts.late_runs import handle_missed_deadline

    return await handle_missed_deadline(context or {}, options)

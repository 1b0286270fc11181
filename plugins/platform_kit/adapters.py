"""What every task adapter shares: the one place an expected error becomes a clean task failure.

A maintenance task body is wrapped in :func:`task_failures`::

    @task
    def verify(params=None):
        with task_failures():
            return verify_task(params)

A :class:`~platform_kit.exceptions.PlatformKitError` then ends the task as failed, not retried, with the
error's one line as the last line of the log (Airflow's ``AirflowFailException``). Anything else keeps its
traceback: it is a bug, and the retry policy of the DAG applies.

SIGTERM is how Airflow stops a task (marked failed or success in the UI, a timeout, a worker shutdown):
the supervisor sends it and kills the process 5 s later. The Task SDK's own handler only calls the
operator's ``on_kill``, so the task body would keep running until killed, leaving its upload open or its
scratch database behind. Inside :func:`task_failures` the signal raises
:class:`~platform_kit.exceptions.RunInterrupted` instead (:mod:`platform_kit.interrupts`, after the SDK's
handler ran), the engine's cleanup paths run, and the task fails with one line saying what they did.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from platform_kit.exceptions import PlatformKitError, RunInterrupted
from platform_kit.interrupts import stop_on_signals

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def task_failures() -> Iterator[None]:
    """Turn a :class:`PlatformKitError` raised inside the block, or a SIGTERM received while it runs,
    into ``AirflowFailException`` with a one-line message."""
    try:
        with stop_on_signals():
            yield
    except (PlatformKitError, RunInterrupted) as exc:
        from platform_kit.version_compat import fail_exception

        raise fail_exception()(str(exc)) from None


def fails_cleanly(function: F) -> F:
    """Decorator form of :func:`task_failures` for a task adapter function."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with task_failures():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]

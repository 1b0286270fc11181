"""SIGTERM and SIGINT end a run through its cleanup paths, never around them.

SIGTERM is how Airflow stops a task (the supervisor sends it, then SIGKILL 5 s later) and how Kubernetes
and systemd stop a process; SIGINT is Ctrl-C. By default the first kills Python outright (no ``finally``
runs) and the second prints a ``KeyboardInterrupt`` traceback. Inside :func:`stop_on_signals` both raise
:class:`~platform_kit.exceptions.RunInterrupted` in the main thread instead, so the code that was running
unwinds normally: uploads abort, ``pg_dump`` and ``pg_restore`` are stopped, scratch databases dropped,
locks released. The two entry points use it, and nothing else installs signal handlers:

* :func:`platform_kit.cli.main` prints ``platform-kit: interrupted by SIGTERM; <what was cleaned up>``
  and exits ``128 + signal``;
* :func:`platform_kit.adapters.task_failures` fails the task with the same line.

A second signal while the cleanup runs means "now": the process exits at once (``128 + signal``); a
bucket's ``AbortIncompleteMultipartUpload`` rule and the next ``backup verify`` clean what was left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from platform_kit.exceptions import RunInterrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)

# Handlers that only mean "stop": the default actions and Python's own KeyboardInterrupt raiser. Anything
# else (the Task SDK's SIGTERM handler that calls the operator's on_kill) is called before we raise.
_PLAIN = (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler, None)


@contextlib.contextmanager
def stop_on_signals(signals: tuple[signal.Signals, ...] = SIGNALS) -> Iterator[None]:
    """Within the block, the first SIGTERM/SIGINT raises :class:`RunInterrupted` in the main thread.

    Outside the main thread (signal handlers cannot be installed there) the block runs unchanged. The
    previous handlers are restored on exit and, if they did more than stop the process, are called first.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    state = {"interrupted": None}

    def handler(signum: int, frame: FrameType | None) -> None:
        if state["interrupted"] is not None:
            # Second signal during the cleanup: the user (or the supervisor) wants it to stop now.
            name = signal.Signals(signum).name
            with contextlib.suppress(OSError):
                os.write(2, f"platform-kit: second {name}: exiting without finishing the cleanup\n".encode())
            os._exit(128 + signum)
        chained = previous.get(signum)
        if chained not in _PLAIN and callable(chained):
            # E.g. the Task SDK's handler (calls on_kill, and may raise): let it do its work, but the
            # run still unwinds through its cleanup, so whatever it raises gives way.
            with contextlib.suppress(BaseException):
                chained(signum, frame)
        state["interrupted"] = signum
        raise RunInterrupted(signum)

    for sig in signals:
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def exit_code(exc: RunInterrupted) -> int:
    """The shell's convention for a process ended by a signal: ``128 + signal`` (143 SIGTERM, 130 SIGINT)."""
    return 128 + exc.signum


def note_cleanup(exc: BaseException, what: str) -> None:
    """Record ``what`` a cleanup path did on ``exc`` when it is an interruption (a no-op otherwise)."""
    if isinstance(exc, RunInterrupted):
        exc.note(what)

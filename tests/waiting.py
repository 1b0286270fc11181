"""Polling with a deadline, for tests that wait on real processes (no fixed sleeps).

Not a test module; ``tests/`` is on ``sys.path`` through its ``conftest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 2) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy; return that.

    :raises AssertionError: after ``timeout`` seconds, naming ``what`` and the last value seen.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")

"""The small helpers every feature shares: one-line errors, secret scrubbing, readable sizes and ages.

Pure Python, no Airflow import: engines, task adapters, the CLI and the child processes all use them.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Where a one-line message is cut: long enough for a server's own error, short enough for a log line.
ONE_LINE_LIMIT = 300


def one_line(exc: BaseException, *, limit: int = ONE_LINE_LIMIT, with_type: bool = False) -> str:
    """``exc`` as a single line: its message with whitespace folded, cut at ``limit``, or its type name.

    A database driver's exception wrapped by SQLAlchemy (``exc.orig``) is unwrapped first and only its
    first line is kept, so the line is the server's own words (``relation "log" does not exist``) rather
    than SQLAlchemy's boilerplate and the ``DETAIL``/``HINT`` lines after it.

    :param limit: the longest line returned; longer text is cut and ends in ``…``.
    :param with_type: append the exception's class, e.g. ``(psycopg2.errors.LockNotAvailable)``.
    """
    orig = getattr(exc, "orig", None) or exc
    raw = str(orig).strip()
    if orig is not exc and raw:
        raw = raw.splitlines()[0]
    text = " ".join(raw.split())
    if not text:
        text = type(orig).__name__
    elif len(text) > limit:
        text = text[: limit - 1] + "…"
    if with_type:
        text += f" ({type(orig).__module__}.{type(orig).__name__})"
    return text


def scrub(text: str, secrets: Iterable[str], *, mask: str = "***") -> str:
    """Replace every secret in ``text`` with ``mask``, longest first (a password inside a URL too).

    Empty strings are ignored, so an unset password never turns every gap into ``***``.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, mask)
    return text


def human_bytes(size: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_and_exact(size: int) -> str:
    """``107374182400`` -> ``'100.0 GiB (107,374,182,400 bytes)'``: readable, and exact for checking."""
    return f"{human_bytes(size)} ({size:,} bytes)"


def size_fields(key: str, size: int) -> dict[str, int | str]:
    """``{key: size, key + "_human": "1.5 KiB"}``: a summary's exact byte count, a readable size next to it.

    Tools read ``key``; a person reads ``<key>_human`` in the log, the XCom view and Slack.
    """
    return {key: size, f"{key}_human": human_bytes(size)}


def human_duration(seconds: float) -> str:
    """``9000`` -> ``'2 h 30 min'``: two units at most, for ages and durations people read at a glance."""
    seconds = max(float(seconds), 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, _ = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes and hours < 10 else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"

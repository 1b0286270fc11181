"""Text for alerts: escaping for Slack, truncation that never cuts an entity, one-line exceptions."""

from __future__ import annotations

from urllib.parse import urlsplit

from platform_kit.version_compat import redact

#: The longest exception description an alert carries; the full traceback is behind the log link.
EXCEPTION_LIMIT = 1_500


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
    return truncate(redact(text), limit, marker=" … (truncated, see the log)")


def is_local_url(url: str | None) -> bool:
    """True when ``url`` points at localhost, i.e. ``[api] base_url`` was left unset."""
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0")

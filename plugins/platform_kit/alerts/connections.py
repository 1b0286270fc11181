"""Where an alert goes: Airflow Connections (and the tutorials' ``slack_url`` Variable) -> a target.

Slack connections work exactly like the Slack provider's ``slackwebhook`` type, so existing ones keep
working: the **password** holds either the full webhook URL (anything containing ``://`` is used
verbatim) or the ``T000/B000/XXXX`` token, which is joined with ``schema`` (default ``https``) and
``host`` (default ``hooks.slack.com/services``). Extras ``timeout`` / ``connect_timeout`` /
``total_timeout`` / ``max_retries`` tune delivery.

Telegram connections (``conn_type`` ``telegram``): the **password** is the bot token, the **host** (or
extra ``chat_id``) the chat id, extra ``api_base_url`` the Bot API address (default
``https://api.telegram.org``).

Lookups are cached per process for a minute: a dag-processor or a storm of callbacks would otherwise ask
the API server for the same connection again and again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from platform_kit.alerts.delivery import DeliveryOptions, register_secret
from platform_kit.exceptions import AlertConfigError, PlatformKitError

log = logging.getLogger(__name__)

SLACK_DEFAULT_HOST = "hooks.slack.com/services"
TELEGRAM_DEFAULT_API = "https://api.telegram.org"
#: The tutorials keep ``T/B/X`` in this Variable and prepend the Slack services URL.
FALLBACK_VARIABLE = "slack_url"
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class AlertTarget:
    """A resolved destination.

    :param name: printable name for logs (the connection id); never the URL.
    :param transport: ``slack`` or ``telegram``.
    :param url: the endpoint to POST to (secret).
    :param chat_id: the Telegram chat, for Telegram targets.
    :param options: timeouts and retry budget.
    """

    name: str
    transport: Literal["slack", "telegram"]
    url: str
    chat_id: str | None = None
    options: DeliveryOptions = field(default_factory=DeliveryOptions)

    def __repr__(self) -> str:  # the URL is a secret: keep it out of reprs that end up in logs
        return f"AlertTarget(name={self.name!r}, transport={self.transport!r})"


def slack_webhook_url(password: str, schema: str | None = None, host: str | None = None) -> str:
    """The webhook URL from a ``slackwebhook`` connection's fields, as the Slack provider builds it."""
    token = (password or "").strip()
    if not token:
        raise AlertConfigError(
            "the Slack connection has an empty password: put the webhook URL or T/B/X in it"
        )
    if "://" in token:
        return token
    host = (host or SLACK_DEFAULT_HOST).strip()
    base = host if "://" in host else f"{(schema or 'https').strip()}://{host}"
    return f"{base.rstrip('/')}/{token.lstrip('/')}"


def telegram_send_url(token: str, api_base_url: str | None = None) -> str:
    """The Bot API ``sendMessage`` endpoint for ``token``."""
    token = (token or "").strip()
    if not token:
        raise AlertConfigError("the Telegram connection has no bot token: put it in the password")
    return f"{(api_base_url or TELEGRAM_DEFAULT_API).rstrip('/')}/bot{token}/sendMessage"


def target_from_fields(
    conn_id: str,
    conn_type: str | None,
    password: str | None,
    host: str | None = None,
    schema: str | None = None,
    extra: dict[str, Any] | None = None,
) -> AlertTarget:
    """Turn a connection's fields into a target; raises :class:`AlertConfigError` when unusable."""
    extra = extra or {}
    try:
        options = DeliveryOptions.from_extra(extra)
    except (TypeError, ValueError) as exc:
        raise AlertConfigError(
            f"connection {conn_id!r}: timeouts and retries in extra must be numbers ({exc})"
        ) from None
    kind = (conn_type or "").lower()
    if kind == "telegram":
        chat_id = str(extra.get("chat_id") or host or "").strip()
        if not chat_id:
            raise AlertConfigError(
                f"connection {conn_id!r}: set the Telegram chat id in host or extra chat_id"
            )
        url = telegram_send_url(password or "", extra.get("api_base_url"))
        register_secret(url, (password or "").strip())
        return AlertTarget(conn_id, "telegram", url, chat_id=chat_id, options=options)
    if kind == "slack":
        raise AlertConfigError(
            f"connection {conn_id!r} is a Slack Web API (bot token) connection; alerts need an incoming "
            "webhook: use conn type 'slackwebhook' with the webhook URL as password"
        )
    url = slack_webhook_url(password or "", schema, host)
    register_secret(url, url.split("://", 1)[-1].split("/", 1)[-1], (password or "").strip())
    return AlertTarget(conn_id, "slack", url, options=options)


_cache: dict[str, tuple[float, AlertTarget | None]] = {}
_cache_lock = threading.Lock()


def get_target(conn_id: str) -> AlertTarget | None:
    """The target behind connection ``conn_id``, or ``None`` when there is no such connection.

    A connection that exists but is unusable is logged (one line, what to fix) and treated as missing,
    so routing falls back instead of losing the alert.
    """
    hit = _cached(conn_id)
    if hit is not _MISS:
        return hit
    try:
        target = target_from_connection(conn_id)
    except PlatformKitError as exc:
        target = _unusable(exc)
    return _store(conn_id, target)


async def aget_target(conn_id: str) -> AlertTarget | None:
    """:func:`get_target` on an event loop (the triggerer): the lookup never blocks the loop."""
    hit = _cached(conn_id)
    if hit is not _MISS:
        return hit
    from platform_kit.connections import aget_connection
    from platform_kit.version_compat import aconnection_extra

    try:
        conn = await aget_connection(conn_id, purpose="alerts", required=False)
        target = None if conn is None else _target_of(conn_id, conn, await aconnection_extra(conn))
    except PlatformKitError as exc:
        target = _unusable(exc)
    return _store(conn_id, target)


_MISS = object()


def _cached(conn_id: str) -> Any:
    with _cache_lock:
        hit = _cache.get(conn_id)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    return _MISS


def _store(conn_id: str, target: AlertTarget | None) -> AlertTarget | None:
    with _cache_lock:
        _cache[conn_id] = (time.monotonic(), target)
    return target


def clear_cache() -> None:
    """Forget cached connections (tests, or after rotating a webhook)."""
    with _cache_lock:
        _cache.clear()


def target_from_connection(conn_id: str) -> AlertTarget | None:
    """The target behind connection ``conn_id`` (uncached); ``None`` when there is no such connection.

    :raises AlertConfigError: it exists but cannot be used.
    :raises ConnectionLookupError: it could not be read.
    """
    from platform_kit.connections import get_connection

    conn = get_connection(conn_id, purpose="alerts", required=False)
    return None if conn is None else _target_of(conn_id, conn, conn.extra_dejson)


def _target_of(conn_id: str, conn: Any, extra: dict[str, Any]) -> AlertTarget:
    return target_from_fields(conn_id, conn.conn_type, conn.password, conn.host, conn.schema, extra)


def _unusable(exc: PlatformKitError) -> None:
    """Log why a connection that exists cannot be used; routing then tries the next one."""
    if isinstance(exc, AlertConfigError):
        log.error("Alert connection unusable: %s", exc)
    else:
        log.warning("%s; trying the next one", exc)


def variable_target() -> AlertTarget | None:
    """The tutorials' fallback: Variable ``slack_url`` holding the part after ``/services/``."""
    now = time.monotonic()
    key = f"variable:{FALLBACK_VARIABLE}"
    with _cache_lock:
        hit = _cache.get(key)
    if hit and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    target = None
    try:
        from airflow.sdk import Variable

        value = Variable.get(FALLBACK_VARIABLE, default=None)
    except Exception as exc:
        log.debug("Variable %s not readable: %s", FALLBACK_VARIABLE, exc)
        value = None
    if value:
        url = slack_webhook_url(str(value))
        register_secret(url, str(value).strip())
        target = AlertTarget(f"Variable {FALLBACK_VARIABLE}", "slack", url)
    with _cache_lock:
        _cache[key] = (now, target)
    return target

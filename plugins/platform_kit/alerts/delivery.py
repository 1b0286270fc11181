"""Bounded, never-raising HTTP delivery for alerts.

One POST goes through a ``requests`` session whose adapter carries a urllib3 :class:`Retry` that

- retries connection errors, 5xx and 429 with exponential backoff and jitter,
- honours ``Retry-After`` on 429/503,
- never retries after the request may have reached the server (a read timeout), so a slow Slack does not
  get the same alert twice,
- stops as soon as the next wait plus one more worst-case attempt would pass the total time cap.

The cap is what keeps a dead or rate-limiting Slack from holding a worker slot: ``post_json`` returns
within ``total_timeout`` (plus scheduling noise) whatever the endpoint does. A delivery that was given up
on is logged exactly once at error level with the reason. Webhook URLs and bot tokens are secrets: they
are never logged, and urllib3's own retry/debug log lines are scrubbed of them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from platform_kit.utils import scrub

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DeliveryOptions:
    """How hard one alert tries.

    :param connect_timeout: seconds to establish the TCP/TLS connection, per attempt.
    :param read_timeout: seconds to wait for the answer, per attempt.
    :param total_timeout: the cap: the call returns within this many seconds whatever happens.
    :param max_retries: most retries after the first attempt (the cap usually ends them first).
    :param backoff_factor: urllib3 backoff base: waits ``factor * 2 ** (n - 1)`` seconds (plus jitter).
    :param proxy: HTTP(S) proxy URL for this target (the Slack provider's ``proxy`` extra); by default
        the usual ``HTTPS_PROXY``/``NO_PROXY`` environment applies.
    """

    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    total_timeout: float = 15.0
    max_retries: int = 8
    backoff_factor: float = 0.5
    proxy: str | None = None

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None) -> DeliveryOptions:
        """Options from a connection's extra (``timeout``, ``connect_timeout``, ``total_timeout``, ...)."""
        extra = extra or {}
        base = cls()
        values: dict[str, Any] = {}
        for name in ("connect_timeout", "read_timeout", "total_timeout", "backoff_factor"):
            if extra.get(name) not in (None, ""):
                values[name] = float(extra[name])
        if extra.get("max_retries") not in (None, ""):
            values["max_retries"] = int(extra["max_retries"])
        if extra.get("proxy"):
            values["proxy"] = str(extra["proxy"])
        # The Slack provider's connection extra calls the per-request timeout ``timeout``.
        if "read_timeout" not in values and extra.get("timeout") not in (None, ""):
            values["read_timeout"] = float(extra["timeout"])
        return cls(**{**base.__dict__, **values})


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one alert.

    :param ok: the endpoint accepted it (HTTP 2xx).
    :param status: the last HTTP status, or ``None`` when no answer came.
    :param attempts: how many requests were sent.
    :param elapsed: seconds spent, retries and waits included.
    :param reason: why it was dropped (``None`` when ``ok``); never contains the URL.
    """

    ok: bool
    status: int | None
    attempts: int
    elapsed: float
    reason: str | None = None
    body: str = ""


class _BudgetExhausted(Exception):
    """Raised inside urllib3 when a retry would overrun the total time cap."""


class _CappedRetry(Retry):
    """A urllib3 Retry that also respects a wall-clock deadline and records what it saw."""

    deadline: float = float("inf")
    attempt_cost: float = 0.0
    notes: list[str]

    def new(self, **kw: Any) -> _CappedRetry:
        new = super().new(**kw)
        new.deadline = self.deadline
        new.attempt_cost = self.attempt_cost
        new.notes = self.notes
        return new

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if error is not None:
            self.notes.append(_describe_error(error))
        elif response is not None:
            self.notes.append(f"HTTP {response.status}")
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = None
        if response is not None and self.respect_retry_after_header:
            wait = new.get_retry_after(response)
        if wait is None:
            wait = new.get_backoff_time()
        remaining = self.deadline - time.monotonic()
        if wait + self.attempt_cost > remaining:
            self.notes.append(
                f"next try (after {wait:.1f} s wait) would pass the {max(remaining, 0):.1f} s left of the cap"
            )
            raise MaxRetryError(_pool, url, _BudgetExhausted(self.notes[-1]))
        return new


def _describe_error(error: BaseException) -> str:
    """A reason without URLs: exception texts from urllib3 embed the host and path."""
    name = type(error).__name__
    text = str(error).lower()
    if "timed out" in text or "timeout" in name.lower():
        return f"timed out ({name})"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "resolution" in text:
        return "DNS lookup failed"
    return name


class _SecretScrubber(logging.Filter):
    """Replaces registered secrets in urllib3's log records: its retry warnings print the request path."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        scrubbed = scrub(message, self.secrets)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


_scrubber = _SecretScrubber()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection"):
    logging.getLogger(_name).addFilter(_scrubber)


def register_secret(*secrets: str) -> None:
    """Keep ``secrets`` (webhook URLs, their paths, bot tokens) out of every log line."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            _scrubber.secrets.add(secret)
            try:
                from platform_kit.version_compat import mask_secret

                mask_secret(secret)
            except Exception:  # outside a task the masker may be unavailable; the scrubber still applies
                pass


_local = threading.local()


def _session() -> tuple[requests.Session, HTTPAdapter]:
    """One keep-alive session per thread: the adapter's retry object is swapped per call."""
    cached = getattr(_local, "session", None)
    if cached is None:
        session = requests.Session()
        # The environment (proxies, CA bundle) is read once per URL in _environment() instead of on every
        # call: requests would otherwise scan os.environ and open ~/.netrc for each alert.
        session.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=4)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        cached = _local.session = (session, adapter)
    return cached


@functools.lru_cache(maxsize=64)
def _environment(url: str) -> tuple[dict[str, str], bool | str]:
    """Proxies (honouring ``NO_PROXY``) and the CA bundle the environment sets for ``url``."""
    proxies = requests.utils.get_environ_proxies(url)
    verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return proxies, verify


def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    target: str,
    options: DeliveryOptions | None = None,
    what: str = "Alert",
) -> DeliveryResult:
    """POST ``payload`` as JSON to ``url``; never raises.

    :param url: the endpoint (a secret: it is never logged).
    :param payload: the JSON body.
    :param target: a printable name for logs, e.g. the connection id ``slack_data``.
    :param options: timeouts, retries and the total cap.
    :param what: names the message in the log line when it is dropped, e.g. ``Failure alert for
        etl.load``, so an operator knows which alert never arrived.
    """
    options = options or DeliveryOptions()
    started = time.monotonic()
    notes: list[str] = []
    try:
        retry = _CappedRetry(
            total=options.max_retries,
            connect=options.max_retries,
            read=False,
            status=options.max_retries,
            other=0,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,
            backoff_factor=options.backoff_factor,
            backoff_jitter=0.25,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        retry.deadline = started + options.total_timeout
        retry.attempt_cost = options.connect_timeout + options.read_timeout
        retry.notes = notes
        session, adapter = _session()
        adapter.max_retries = retry
        env_proxies, verify = _environment(url)
        body = json.dumps(payload, default=str).encode()
        response = session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=(options.connect_timeout, options.read_timeout),
            allow_redirects=False,
            proxies={"http": options.proxy, "https": options.proxy} if options.proxy else env_proxies,
            verify=verify,
        )
        failed = _failed_attempts(notes)
        elapsed = time.monotonic() - started
        if 200 <= response.status_code < 300:
            attempts = failed + 1
            log.debug("Alert delivered to %s (%d attempt(s), %.2f s)", target, attempts, elapsed)
            return DeliveryResult(True, response.status_code, attempts, elapsed, body=response.text[:200])
        attempts = max(failed, 1)
        answer = response.text[:120].strip().replace("\n", " ")
        reason = f"HTTP {response.status_code} {answer}".strip()
        if notes and notes[-1].startswith("next try"):
            reason = f"{reason}; {notes[-1]}"
        return _give_up(what, target, response.status_code, attempts, started, reason)
    except Exception as exc:
        # Everything ends here: connection errors, timeouts, even bugs in this module. The callback must
        # not raise into Airflow.
        errors = [note for note in notes if not note.startswith("next try")]
        primary = _root_cause(exc) or (errors[-1] if errors else _describe_error(exc))
        budget = [note for note in notes if note.startswith("next try")]
        reason = f"{primary}; {budget[-1]}" if budget else primary
        return _give_up(what, target, None, max(len(errors), 1), started, reason)


def _failed_attempts(notes: list[str]) -> int:
    return sum(1 for note in notes if not note.startswith("next try"))


def _root_cause(exc: BaseException) -> str | None:
    seen = exc
    for _ in range(6):
        if isinstance(seen, MaxRetryError):
            inner = seen.reason
            if isinstance(inner, _BudgetExhausted):
                return None
            return _describe_error(inner) if inner is not None else None
        if isinstance(seen, requests.exceptions.ReadTimeout):
            return "no answer within the read timeout"
        nxt = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else seen.__cause__
        if nxt is None:
            break
        seen = nxt
    return None


def _give_up(
    what: str, target: str, status: int | None, attempts: int, started: float, reason: str
) -> DeliveryResult:
    elapsed = time.monotonic() - started
    log.error(
        "%s to %s dropped after %d attempt(s) in %.1f s: %s. "
        "Check the connection and the endpoint; the task itself is not affected.",
        what,
        target,
        attempts,
        elapsed,
        reason,
    )
    return DeliveryResult(False, status, attempts, elapsed, reason)

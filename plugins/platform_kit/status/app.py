"""The Platform page and the Prometheus endpoint: the FastAPI app the plugin mounts on the api-server.

Routes, under the plugin's prefix (``/platform-kit`` unless changed):

* ``GET /`` - the Platform page. Behind Airflow's own authentication and authorization: the user comes
  from the same dependency the core REST API uses (Bearer JWT or the UI's cookie), and each maintenance
  DAG is shown only if the auth manager lets that user read it. Logged out: 401; allowed to read none of
  them: 403.
* ``GET /metrics`` - the same reading in the Prometheus text format (OpenMetrics when asked). Open unless
  the connection named by ``[platform_kit] metrics_token_conn_id`` (default ``platform_kit_metrics``)
  exists: then its password is a bearer token every scrape must send.
* ``GET /static/icon.svg`` - the navigation icon.

Airflow mounts a plugin's app without any authentication; everything above is added here.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Generic, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from platform_kit.status import URL_PREFIX
from platform_kit.status.collect import read_platform
from platform_kit.status.metrics import StatusCollector, exposition
from platform_kit.status.model import PlatformStatus
from platform_kit.status.page import render
from platform_kit.status.verdicts import Finding, Thresholds, judge
from platform_kit.utils import one_line

log = logging.getLogger(__name__)

#: How long the metrics token read from its connection is trusted before it is read again.
TOKEN_TTL_SECONDS = 60.0
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    # Framed by the Airflow UI (same origin) and nobody else.
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Filled, so it reads on the sidebar's light background and on its dark "selected" one alike.
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke-linecap="round" '
    'stroke-linejoin="round"><rect x="2.5" y="3.5" width="19" height="17" rx="3" fill="#ffffff" '
    'stroke="#1d4ed8" stroke-width="1.5"/><path d="M5.5 12.5h3l2-4.5 3 8 2-3.5h3" stroke="#1d4ed8" '
    'stroke-width="2"/></svg>'
)


class ReadErrors:
    """Scrapes of this process that could not read the metadata DB (``platform_kit_status_read_errors``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0

    def add(self) -> int:
        with self._lock:
            self.total += 1
            return self.total


T = TypeVar("T")


class SharedReading(Generic[T]):
    """Requests that arrive while a reading is under way wait for it and share it, instead of each
    starting its own: a slow DB then costs one reading, not one per scrape Prometheus retried or per
    browser refresh. Nothing is cached beyond that: every reading starts after its request arrived
    or while it waited.
    """

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._pending: Future[T] | None = None

    def get(self) -> T:
        with self._lock:
            pending, owner = self._pending, self._pending is None
            if owner:
                pending = self._pending = Future()
        assert pending is not None
        if not owner:
            return pending.result()
        try:
            result = self._read()
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        else:
            pending.set_result(result)
            return result
        finally:
            with self._lock:
                self._pending = None


class MetricsToken:
    """The bearer token the metrics endpoint requires, read from a connection's password.

    Looked up with :func:`platform_kit.connections.get_connection` and kept for ``ttl`` seconds, so a
    scrape costs no connection lookup. A lookup that fails (secrets backend down) refuses the scrape:
    the endpoint never opens up because its token could not be read.
    """

    def __init__(self, ttl: float = TOKEN_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, str | None] | None = None

    def current(self) -> str | None:
        """The token, or ``None`` when no token connection exists (the endpoint is open)."""
        with self._lock:
            if self._cached is not None and self._cached[0] > time.monotonic():
                return self._cached[1]
        from platform_kit.connections import get_connection
        from platform_kit.settings import metrics_token_conn_id

        conn_id = metrics_token_conn_id()
        conn = get_connection(conn_id, purpose="metrics bearer token", required=False) if conn_id else None
        token = (getattr(conn, "password", None) or None) if conn is not None else None
        if conn is not None and token is None:
            from platform_kit.exceptions import ConfigurationError

            raise ConfigurationError(
                f"connection {conn_id!r} has no password; put the metrics bearer token in it or delete it"
            )
        with self._lock:
            self._cached = (time.monotonic() + self.ttl, token)
        return token

    def check(self, request: Request) -> None:
        """Refuse the request unless it carries the token (when one is configured)."""
        try:
            token = self.current()
        except Exception as exc:
            log.error("metrics token could not be read: %s", one_line(exc))
            raise HTTPException(503, "the metrics token could not be read; see the api-server log") from None
        if token is None:
            return
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(
                401,
                "send the metrics token as 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": "Bearer"},
            )


def _reading(errors: ReadErrors) -> tuple[PlatformStatus, dict[str, list[Finding]], float, int]:
    from platform_kit.version_compat import create_session

    started = time.perf_counter()
    status = read_platform(create_session)
    seconds = time.perf_counter() - started
    total = errors.add() if status.error else errors.total
    if status.error:
        log.error("Platform status: %s", status.error)
    limits = Thresholds.from_settings()
    findings = {dag.dag_id: judge(dag, status.generated_at, limits) for dag in status.dags}
    return status, findings, seconds, total


def _ui_root(request: Request, url_prefix: str) -> str:
    """The path the Airflow UI is served under: this app's mount path without its own prefix."""
    root = request.scope.get("root_path", "") or ""
    return root[: -len(url_prefix)] if root.endswith(url_prefix) else ""


def _refusal(status_code: int, detail: str, login_url: str) -> str:
    from html import escape

    action = (
        f'<p><a href="{escape(login_url)}" target="_top">Log in to Airflow</a>, then open this page '
        "again.</p>"
        if status_code == 401
        else "<p>Ask an Airflow admin for read access to the platform-kit maintenance DAGs.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Platform - refused</title></head>'
        '<body style="font: 15px/1.5 sans-serif; margin: 32px">'
        f"<h1>Platform: access refused ({status_code})</h1><p>{escape(detail)}</p>{action}</body></html>"
    )


def create_app(url_prefix: str = URL_PREFIX) -> FastAPI:
    """The app the plugin mounts at ``url_prefix``.

    :param url_prefix: where it is mounted; links back into the Airflow UI are built from it.
    """
    from platform_kit.version_compat import api_security

    security = api_security()
    # A default, not an ``Annotated`` alias: annotations are strings here and FastAPI resolves them
    # against the module, where a local alias does not exist.
    authenticated_user = Depends(security.get_user)
    errors = ReadErrors()
    reading = SharedReading(lambda: _reading(errors))
    token = MetricsToken()
    app = FastAPI(title="platform-kit", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        headers = {**SECURITY_HEADERS, **(exc.headers or {})}
        if request.url.path.rstrip("/").endswith("/metrics") or "text/html" not in request.headers.get(
            "accept", ""
        ):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
        page_url = f"{_ui_root(request, url_prefix)}{url_prefix}/"
        login = f"{_ui_root(request, url_prefix)}/api/v2/auth/login?next={page_url}"
        return HTMLResponse(
            _refusal(exc.status_code, str(exc.detail), login), exc.status_code, headers=headers
        )

    def readable_dag_ids(request: Request, user: Any) -> set[str]:
        """The maintenance DAGs the auth manager lets ``user`` read (the core API's own check)."""
        from platform_kit.status.catalog import MAINTENANCE_DAGS

        allowed = set()
        for dag in MAINTENANCE_DAGS:
            try:
                security.requires_access_dag("GET", param_dag_id=dag.dag_id)(request, user)
            except HTTPException as exc:
                if exc.status_code != 403:
                    raise
                continue
            allowed.add(dag.dag_id)
        return allowed

    @app.get("/", response_class=HTMLResponse)
    def platform_page(request: Request, user: Any = authenticated_user) -> HTMLResponse:
        allowed = readable_dag_ids(request, user)
        if not allowed:
            raise HTTPException(403, "This user may not read the platform-kit maintenance DAGs.")
        status, findings, _, _ = reading.get()
        status = replace(status, dags=[dag for dag in status.dags if dag.dag_id in allowed])
        body = render(status, findings, ui_root=_ui_root(request, url_prefix), metrics_url="metrics")
        return HTMLResponse(body, headers=SECURITY_HEADERS)

    @app.get("/metrics")
    def prometheus_metrics(request: Request) -> Response:
        token.check(request)
        status, findings, seconds, total = reading.get()
        collector = StatusCollector(status, findings, read_errors_total=total, read_seconds=seconds)
        body, content_type = exposition(collector, request.headers.get("accept"))
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    @app.get("/static/icon.svg")
    def icon() -> Response:
        return Response(ICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    return app

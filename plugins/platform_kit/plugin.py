"""The Airflow plugin that registers platform-kit with every Airflow component.

Registered through the ``airflow.plugins`` entry point when the package is pip-installed, and found by
Airflow's plugins-folder scan when ``plugins/`` is mounted (as in the docker compose sandbox).
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from platform_kit import __version__
from platform_kit.status import URL_PREFIX
from platform_kit.version_compat import AIRFLOW_V_3_3_PLUS


class LazyStatusApp:
    """An ASGI app that builds :func:`platform_kit.status.app.create_app` on its first request.

    Every component loads the plugin, only the api-server serves it: FastAPI, the auth dependencies and
    the ORM are imported when the first request arrives, never in a worker or the dag-processor. If this
    Airflow lacks an internal the app needs, each request gets a 503 with the one-line reason.
    """

    def __init__(self, url_prefix: str = URL_PREFIX) -> None:
        self.url_prefix = url_prefix
        self._app: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        with self._lock:
            if self._app is None:
                from platform_kit.exceptions import PlatformKitError

                try:
                    from platform_kit.status.app import create_app

                    self._app = create_app(self.url_prefix)
                except PlatformKitError as exc:
                    self._app = _unavailable(str(exc))
        return self._app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        app = self._app or self._build()
        await app(scope, receive, send)


def _unavailable(reason: str) -> Any:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = f"platform-kit status is unavailable: {reason}\n".encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _platform_view() -> dict[str, Any]:
    view = {
        "name": "Platform",
        # Relative: the UI resolves it against its own base URL, so a proxy prefix keeps working.
        "href": URL_PREFIX.lstrip("/") + "/",
        "icon": URL_PREFIX.lstrip("/") + "/static/icon.svg",
        "url_route": "platform",
        "destination": "nav",
    }
    if AIRFLOW_V_3_3_PLUS:
        view["nav_top_level"] = True  # its own entry in the sidebar (3.3+; older UIs list it as is)
    return view


class PlatformKitPlugin(AirflowPlugin):
    """Registers, on the api-server, the Platform page and the Prometheus metrics:

    * ``fastapi_apps``: :class:`LazyStatusApp` at ``/platform-kit`` - the page at ``/platform-kit/`` and
      the metrics at ``/platform-kit/metrics`` (see :mod:`platform_kit.status.app` for their auth);
    * ``external_views``: a "Platform" entry in the UI's navigation that shows the page inside the UI.

    Nothing else: no macros, listeners or operators (the DAGs come from the bundle, the alert callbacks
    are imported by the DAGs that use them). ``airflow plugins`` lists it with its version.
    """

    name = "platform_kit"
    version = __version__
    fastapi_apps = [{"app": LazyStatusApp(), "url_prefix": URL_PREFIX, "name": "platform-kit"}]
    external_views = [_platform_view()]

"""A small client for Airflow's public REST API, authenticated as the service account of a Connection.

The export needs the REST API for what the Task SDK cannot give: the list of connection ids (there is no
Task-SDK listing call) and the descriptions of variables and connections (the execution API omits them).
Values read through REST are redacted (``***``), so no value is ever taken from here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from platform_kit.exceptions import ExportError

RETRY_DELAYS = (2.0, 5.0)
PAGE_LIMIT = 100  # the API's [api] maximum_page_limit default; larger limits are silently capped


class HttpConnectionLike(Protocol):
    conn_id: str
    host: str | None
    schema: str | None
    port: int | None
    login: str | None
    password: str | None


def base_url_from_connection(conn: HttpConnectionLike) -> str:
    """``http://host:port`` of the API from an http Connection (host may already be a full URL)."""
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise ExportError(
            f"connection {conn.conn_id!r} has no host; set it to the API base URL, e.g. "
            "http://airflow-apiserver:8080"
        )
    if "://" in host:
        if conn.port and host.count(":") == 1:
            host = f"{host}:{conn.port}"
        return host
    scheme = (conn.schema or "http").strip() or "http"
    return f"{scheme}://{host}:{conn.port}" if conn.port else f"{scheme}://{host}"


class AirflowApi:
    """Token-authenticated access to ``/api/v2`` as a service account.

    :param base_url: API base URL, e.g. ``http://airflow-apiserver:8080``.
    :param username: service-account user name.
    :param password: service-account password (sent only to ``POST /auth/token``).
    :param conn_id: the Connection these came from; named in error messages.
    :param retry_delays: pauses before retrying a failed read or token request (writes never retry).
    :param timeout: seconds per HTTP request (listing pages redacts every value server-side, which can
        take a while for large values on a busy api-server).
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        conn_id: str = "airflow_api",
        timeout: float = 120,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.conn_id = conn_id
        self.timeout = timeout
        self.retry_delays = retry_delays
        self._username = username
        self._password = password
        self._session = requests.Session()

    @classmethod
    def from_connection(cls, conn: HttpConnectionLike, *, timeout: float = 120) -> AirflowApi:
        """Build a client from an http Connection: host = base URL, login/password = service account."""
        if not conn.login or not conn.password:
            raise ExportError(
                f"connection {conn.conn_id!r} needs login and password of the API service account"
            )
        return cls(
            base_url_from_connection(conn), conn.login, conn.password, conn_id=conn.conn_id, timeout=timeout
        )

    def login(self) -> None:
        """Exchange the service-account credentials for a JWT (``POST /auth/token``)."""
        response = self._request(
            "POST", "/auth/token", json={"username": self._username, "password": self._password}, auth=False
        )
        token = response.json().get("access_token") if response.content else None
        if not token:
            raise ExportError(
                f"{self.base_url}/auth/token returned no access_token; is this an Airflow 3 API?"
            )
        self._session.headers["Authorization"] = f"Bearer {token}"

    def _request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any):
        import requests

        if auth and "Authorization" not in self._session.headers:
            self.login()
        url = f"{self.base_url}{path}"
        # Reads and the token request are idempotent: a busy api-server (it also serves every task's
        # execution API) gets a couple of retries before the run fails. Writes are never retried.
        attempts = len(self.retry_delays) + 1 if method == "GET" or path == "/auth/token" else 1
        for attempt in range(attempts):
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
                break
            except requests.RequestException as exc:
                if attempt + 1 < attempts:
                    time.sleep(self.retry_delays[attempt])
                    continue
                raise ExportError(
                    f"cannot reach the Airflow API at {self.base_url} ({exc.__class__.__name__} after "
                    f"{attempts} attempt(s)); check the host of connection {self.conn_id!r} and that the "
                    "api-server is up"
                ) from None
        if response.status_code in (401, 403):
            what = "service-account credentials" if path.startswith("/auth/") else "token"
            raise ExportError(
                f"the Airflow API rejected the {what} of connection {self.conn_id!r} "
                f"(HTTP {response.status_code} on {method} {path}); fix its login/password or permissions"
            )
        if response.status_code >= 400:
            detail = response.text[:200].replace("\n", " ")
            raise ExportError(
                f"Airflow API {method} {path} failed with HTTP {response.status_code}: {detail}"
            )
        return response

    def paged(self, path: str, items_key: str, *, order_by: str = "id") -> Iterator[dict[str, Any]]:
        """Yield every item of a paginated ``/api/v2`` collection (``limit``/``offset``)."""
        offset = 0
        while True:
            params = {"limit": PAGE_LIMIT, "offset": offset, "order_by": order_by}
            page = self._request("GET", path, params=params).json()
            items = page.get(items_key) or []
            yield from items
            if len(items) < PAGE_LIMIT:
                return
            offset += len(items)

    def connection_descriptions(self) -> dict[str, str | None]:
        """Every connection id stored in the metadata DB, with its description."""
        return {
            c["connection_id"]: c.get("description") for c in self.paged("/api/v2/connections", "connections")
        }

    def variable_descriptions(self) -> dict[str, str | None]:
        """Every variable key stored in the metadata DB, with its description (values are redacted)."""
        return {v["key"]: v.get("description") for v in self.paged("/api/v2/variables", "variables")}

    def _get_or_none(self, path: str) -> dict[str, Any] | None:
        from urllib.parse import quote

        try:
            return self._request("GET", quote(path)).json()
        except ExportError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def variable_has_value(self, key: str) -> bool:
        """Whether variable ``key`` exists with a non-NULL value (the value itself is redacted anyway)."""
        found = self._get_or_none(f"/api/v2/variables/{key}")
        return found is not None and found.get("value") is not None

    def connection_exists(self, conn_id: str) -> bool:
        """Whether connection ``conn_id`` exists."""
        return self._get_or_none(f"/api/v2/connections/{conn_id}") is not None

    def bulk(self, collection: str, entities: list[Mapping[str, Any]], action_on_existence: str) -> dict:
        """``PATCH /api/v2/<collection>`` with one ``create`` action; returns the action's result."""
        body = {
            "actions": [
                {"action": "create", "entities": entities, "action_on_existence": action_on_existence}
            ]
        }
        result = self._request("PATCH", f"/api/v2/{collection}", json=body).json()
        return result.get("create") or {}

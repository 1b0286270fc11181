"""A small client for Airflow's public REST API (``/api/v2``), used by the e2e tests and the twin."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import requests

TERMINAL_RUN_STATES = {"success", "failed"}
# One api-server worker also serves every running task's execution API; under load a plain read can take
# tens of seconds, and a test should wait for it rather than fail.
REQUEST_TIMEOUT = 120


class AirflowClient:
    """Authenticates with ``POST /auth/token`` and wraps the calls the tests need.

    :param base_url: the api-server address, e.g. ``http://127.0.0.1:8080``.
    :param username: a user of the auth manager.
    :param password: its password.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._api: requests.Session | None = None

    @property
    def api(self) -> requests.Session:
        """A session carrying a Bearer token; relative paths are not supported, use :meth:`url`."""
        if self._api is None:
            response = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=REQUEST_TIMEOUT,
            )
            response.raise_for_status()
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
            self._api = session
        return self._api

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/v2/{path.lstrip('/')}"

    def get(self, path: str, **params) -> Any:
        response = self.api.get(self.url(path), params=params, timeout=REQUEST_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict:
        return requests.get(self.url("monitor/health"), timeout=10).json()

    def wait_healthy(self, timeout: float = 240, processes=()) -> dict:
        """Wait until the metadatabase, scheduler, dag-processor and triggerer all report healthy."""
        deadline = time.monotonic() + timeout
        last: dict | str = "no answer"
        while time.monotonic() < deadline:
            for proc in processes:
                if proc.proc.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode} during start-up")
            try:
                last = self.health()
                if all(
                    (last.get(part) or {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ):
                    return last
            except (requests.RequestException, ValueError) as exc:
                last = str(exc)
            time.sleep(1)
        raise RuntimeError(f"Airflow did not become healthy within {timeout:.0f}s; last health: {last}")

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict:
        """Wait until the dag-processor has parsed ``dag_id``; fail fast on an import error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.api.get(self.url(f"dags/{dag_id}"), timeout=REQUEST_TIMEOUT)
            if response.status_code == 200:
                return response.json()
            errors = self.get("importErrors", limit=100)["import_errors"]
            if errors:
                raise AssertionError(f"DAG import errors while waiting for {dag_id}: {errors}")
            time.sleep(2)
        raise TimeoutError(f"DAG {dag_id} was not parsed within {timeout:.0f}s")

    def unpause(self, dag_id: str) -> None:
        response = self.api.patch(
            self.url(f"dags/{dag_id}"), json={"is_paused": False}, timeout=REQUEST_TIMEOUT
        )
        response.raise_for_status()

    def trigger(
        self,
        dag_id: str,
        conf: dict | None = None,
        logical_date: str | None = None,
        run_id: str | None = None,
    ) -> str:
        """Unpause ``dag_id`` (after it is parsed) and start a run; returns its run id."""
        self.wait_for_dag(dag_id)
        # Listing the DAG's tasks makes the api-server load every provider's operator links, once per
        # process (12-40 s on a busy machine). Without this the first task start of a session pays for it
        # inside the execution API, and its supervisor can give up before the api-server answers.
        self.get(f"dags/{quote(dag_id, safe='')}/tasks")
        self.unpause(dag_id)
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        response = self.api.post(self.url(f"dags/{dag_id}/dagRuns"), json=body, timeout=REQUEST_TIMEOUT)
        if response.status_code >= 400:
            raise AssertionError(f"triggering {dag_id} failed: {response.status_code} {response.text}")
        return response.json()["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns", limit=100, order_by="-run_after")["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict:
        """Poll until the run is ``success`` or ``failed``; return its final JSON."""
        deadline = time.monotonic() + timeout
        run: dict = {}
        while time.monotonic() < deadline:
            run = self.dag_run(dag_id, run_id)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            time.sleep(1)
        states = {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}
        raise TimeoutError(f"{dag_id} run {run_id} still {run.get('state')} after {timeout:.0f}s: {states}")

    def run_dag(self, dag_id: str, conf: dict | None = None, timeout: float = 300, **kwargs) -> dict:
        """Trigger and wait: the final DagRun JSON."""
        return self.wait_for_run(dag_id, self.trigger(dag_id, conf, **kwargs), timeout)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", limit=100)[
            "task_instances"
        ]

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.get(path, map_index=map_index, deserialize=True)["value"]

    def task_log_entries(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> list[dict]:
        """The structured log of one try, as the UI reads it (a list of JSON events)."""
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        response = self.api.get(
            self.url(path),
            params={"map_index": map_index, "full_content": True},
            headers={"Accept": "application/json"},
            timeout=REQUEST_TIMEOUT,
        )
        response.raise_for_status()
        return [
            entry if isinstance(entry, dict) else {"event": entry} for entry in response.json()["content"]
        ]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The log of one try as text: one JSON line per event, non-ASCII kept as is (for grepping)."""
        entries = self.task_log_entries(dag_id, run_id, task_id, try_number, map_index)
        return "\n".join(json.dumps(entry, ensure_ascii=False, default=str) for entry in entries)

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        body = {"key": key, "value": value, "description": description}
        response = self.api.post(self.url("variables"), json=body, timeout=REQUEST_TIMEOUT)
        if response.status_code == 409:
            response = self.api.patch(
                self.url(f"variables/{quote(key, safe='')}"), json=body, timeout=REQUEST_TIMEOUT
            )
        response.raise_for_status()

    def create_connection(self, connection: dict) -> None:
        response = self.api.post(self.url("connections"), json=connection, timeout=REQUEST_TIMEOUT)
        response.raise_for_status()

"""The plugin's app without a running api-server: registration, the metrics token, shared readings.

The full path (Airflow's auth manager, the UI, a real DB) is tested on the twin in
``tests/e2e/test_platform_status.py``; here the app runs in-process against this test's unmigrated
metadata DB, which is a realistic "DB unreadable" case.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from platform_kit.plugin import LazyStatusApp, PlatformKitPlugin
from platform_kit.status.app import MetricsToken, SharedReading, create_app

pytestmark = pytest.mark.unit


def test_the_plugin_registers_the_app_and_a_navigation_entry_and_nothing_else():
    (app,) = PlatformKitPlugin.fastapi_apps
    assert app["url_prefix"] == "/platform-kit" and isinstance(app["app"], LazyStatusApp)
    (view,) = PlatformKitPlugin.external_views
    assert (
        view["href"] == "platform-kit/" and view["destination"] == "nav" and view["url_route"] == "platform"
    )
    for attribute in (
        "macros",
        "listeners",
        "operator_extra_links",
        "react_apps",
        "fastapi_root_middlewares",
    ):
        assert not getattr(PlatformKitPlugin, attribute, None), attribute


def test_a_plugin_app_that_cannot_be_built_answers_503_with_the_reason(monkeypatch):
    from platform_kit.exceptions import AirflowCompatError

    def broken(url_prefix):
        raise AirflowCompatError("the Platform page is not supported on Airflow 9.9: lacks get_user; upgrade")

    monkeypatch.setattr("platform_kit.status.app.create_app", broken)
    client = TestClient(LazyStatusApp())
    response = client.get("/metrics")
    assert response.status_code == 503 and "lacks get_user" in response.text


def metrics(response) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(response.text) for s in f.samples}


def test_metrics_need_the_token_from_the_connection_when_it_exists(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_PLATFORM_KIT_METRICS", json.dumps({"conn_type": "generic", "password": "s3cr3t"})
    )
    client = TestClient(create_app())
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cr3t"})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    # This test's metadata DB was never migrated: the endpoint says so as a series, not as an error page.
    assert metrics(ok)["platform_kit_status_up"] == 0
    assert metrics(ok)["platform_kit_status_read_errors_total"] >= 1
    assert "s3cr3t" not in ok.text


def test_metrics_are_open_without_a_token_connection_and_a_broken_one_refuses(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_PLATFORM_KIT_METRICS", raising=False)
    assert TestClient(create_app()).get("/metrics").status_code == 200
    monkeypatch.setenv("AIRFLOW_CONN_PLATFORM_KIT_METRICS", json.dumps({"conn_type": "generic"}))
    assert TestClient(create_app()).get("/metrics").status_code == 503  # no password: fail closed


def test_the_page_refuses_a_logged_out_browser_with_a_login_link():
    response = TestClient(create_app(), root_path="/platform-kit").get("/", headers={"Accept": "text/html"})
    assert response.status_code == 401
    assert 'href="/api/v2/auth/login?next=/platform-kit/"' in response.text
    assert response.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert TestClient(create_app()).get("/").json() == {"detail": "Not authenticated"}  # API clients: JSON


def test_the_token_is_read_once_per_ttl(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_PLATFORM_KIT_METRICS", json.dumps({"conn_type": "generic", "password": "a"})
    )
    token = MetricsToken(ttl=60)
    assert token.current() == "a"
    monkeypatch.setenv(
        "AIRFLOW_CONN_PLATFORM_KIT_METRICS", json.dumps({"conn_type": "generic", "password": "b"})
    )
    assert token.current() == "a"
    assert MetricsToken(ttl=0).current() == "b"


def test_concurrent_requests_share_one_reading_and_its_failure():
    calls = []

    def slow_read():
        calls.append(1)
        time.sleep(0.3)
        if len(calls) == 2:
            raise RuntimeError("db down")
        return len(calls)

    shared = SharedReading(slow_read)
    results = []
    threads = [threading.Thread(target=lambda: results.append(shared.get())) for _ in range(5)]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    assert results == [1] * 5 and len(calls) == 1

    errors = []

    def failing():
        try:
            shared.get()
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=failing) for _ in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    assert errors == ["db down"] * 3 and len(calls) == 2
    assert shared.get() == 3  # the next request reads afresh

"""The twin itself: healthy components, the bundle's DAGs parsed, and the task DB block in force."""

from __future__ import annotations

import pytest

from twin.client import REQUEST_TIMEOUT

pytestmark = pytest.mark.e2e


def test_every_component_reports_healthy(twin):
    health = twin.health()
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health


def test_a_task_touching_the_orm_fails_like_in_production(twin):
    run_id = twin.trigger("e2e_harness_orm_block")
    run = twin.wait_for_run("e2e_harness_orm_block", run_id, timeout=180)
    states = {ti["task_id"]: ti["state"] for ti in twin.task_instances("e2e_harness_orm_block", run_id)}
    assert run["state"] == "failed"
    assert states == {"touch_orm": "failed", "read_environment": "success"}
    assert twin.xcom("e2e_harness_orm_block", run_id, "read_environment") == "airflow-db-not-allowed:///"
    log = twin.task_log("e2e_harness_orm_block", run_id, "touch_orm")
    assert "Direct database access via the ORM is not allowed" in log


def test_the_ui_serves_and_the_plugin_is_registered(twin):
    import requests

    assert requests.get(twin.ui_url, timeout=REQUEST_TIMEOUT).status_code == 200
    plugins = {p["name"] for p in twin.get("plugins")["plugins"]}
    assert "platform_kit" in plugins

"""A person's view of the sandbox, in headless Chromium: log in, find the maintenance DAGs, read an alert.

Screenshots go to ``artifacts/browser/`` (CI keeps them); ``scripts/screenshots`` copies them into
``docs/images/`` for the README walkthrough.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
MAINTENANCE_DAGS = [
    "platform_kit_log_cleanup",
    "platform_kit_metadb_backup",
    "platform_kit_export",
    "platform_kit_metadb_cleanup",
]


@pytest.fixture(scope="module")
def page():
    from twin.browser import chromium_page

    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        yield page


def test_log_in_and_find_the_maintenance_dags(twin, page):
    for dag_id in MAINTENANCE_DAGS:
        twin.wait_for_dag(dag_id)
    from twin.browser import log_in
    from twin.stack import UI_PASSWORD, UI_USER

    log_in(page, twin.ui_url, UI_USER, UI_PASSWORD, screenshot=SHOTS / "01-login.png")
    page.goto(f"{twin.ui_url}/dags?tags=maintenance")
    for dag_id in MAINTENANCE_DAGS:
        page.get_by_text(dag_id, exact=True).first.wait_for()
    assert page.get_by_text("example_platform_kit_trigger_controller").count() == 0  # the tag filter works
    page.screenshot(path=SHOTS / "02-maintenance-dags.png", full_page=True)


def test_the_receiver_page_shows_the_alert_of_a_failing_example(twin, page):
    twin.clear_receiver()
    run_id = twin.trigger("example_platform_kit_alerting", conf={"fail": True})
    assert twin.wait_for_run("example_platform_kit_alerting", run_id, timeout=240)["state"] == "failed"
    page.goto(f"{twin.receiver_url}/")
    page.get_by_text("example_platform_kit_alerting").first.wait_for()
    text = page.inner_text("body")
    assert "Retrying" in text and "Failed" in text
    assert "orders feed returned HTTP 503" in text
    page.screenshot(path=SHOTS / "03-slack-receiver.png", full_page=True)

    page.goto(f"{twin.ui_url}/dags/example_platform_kit_alerting/runs/{run_id}")
    page.get_by_text("load_orders").first.wait_for()
    page.screenshot(path=SHOTS / "04-failed-run.png")

"""The Platform page and the metrics on a real Airflow (the twin), as people and Prometheus see them.

* A person, in headless Chromium: logged out they are refused; a user whose role may not read DAGs is
  refused; an admin finds "Platform" in the UI's navigation, reads a green backup row whose facts match
  the run's own summary, and its "log" link opens the task log in the UI itself.
* Prometheus (Debian's, started by the twin against ``/platform-kit/metrics`` with the kit's rules):
  after a backup run its own HTTP API returns the backup's time and size; every kit panel of the Grafana
  dashboard evaluates; with the scheduler stopped, ``PlatformKitComponentUnhealthy`` reaches firing, and
  clears when it is back.

Screenshots go to ``artifacts/browser/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from waiting import wait_for

from platform_kit.storage.manifest import parse_set_id
from twin.browser import SHOTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BACKUP = "platform_kit_metadb_backup"
TIMEOUT = 240


@pytest.fixture(scope="module")
def backup(twin) -> dict:
    """One successful backup run and what its tasks reported."""
    run_id = twin.trigger(BACKUP)
    run = twin.wait_for_run(BACKUP, run_id, timeout=600)
    assert run["state"] == "success", {t["task_id"]: t["state"] for t in twin.task_instances(BACKUP, run_id)}
    return {"run_id": run_id, "dump": twin.xcom(BACKUP, run_id, "dump_and_upload")}


@pytest.fixture(scope="module")
def browser():
    import shutil

    from playwright.sync_api import sync_playwright

    from twin.browser import CHROMIUM_ARGS

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page


def test_a_logged_out_browser_is_refused(twin, browser):
    page = _page(browser)
    response = page.goto(f"{twin.ui_url}/platform-kit/")
    assert response.status == 401
    assert "access refused (401)" in page.inner_text("body")
    assert "platform_kit" not in page.content().replace("platform-kit", "")  # no DAG data leaked
    page.get_by_role("link", name="Log in to Airflow").click()
    page.wait_for_url("**/auth/login**")  # the link leads to Airflow's own login
    page.context.close()


def test_a_user_whose_role_may_not_read_dags_is_refused(twin, browser):
    from twin.browser import log_in
    from twin.stack import NO_ROLE_PASSWORD, NO_ROLE_USER

    page = _page(browser)
    log_in(page, twin.ui_url, NO_ROLE_USER, NO_ROLE_PASSWORD)
    response = page.goto(f"{twin.ui_url}/platform-kit/")
    assert response.status == 403
    assert "may not read the platform-kit maintenance DAGs" in page.inner_text("body")
    token = requests.post(
        f"{twin.api_url}/auth/token",
        json={"username": NO_ROLE_USER, "password": NO_ROLE_PASSWORD},
        timeout=60,
    ).json()["access_token"]
    api = requests.get(
        f"{twin.api_url}/platform-kit/", headers={"Authorization": f"Bearer {token}"}, timeout=120
    )
    assert api.status_code == 403 and "metadb_backup" not in api.text
    page.context.close()


def test_an_admin_reads_the_backup_row_in_the_airflow_ui_and_its_log_link_opens_in_the_ui(
    twin, browser, backup
):
    from platform_kit.utils import human_bytes
    from twin.browser import log_in
    from twin.stack import UI_PASSWORD, UI_USER
    from twin.walkthrough import Walkthrough

    page = _page(browser)
    log_in(page, twin.ui_url, UI_USER, UI_PASSWORD)
    frame = Walkthrough(twin, page, SHOTS).see_the_platform()  # README step 8: the nav entry "Platform"
    row = frame.locator(f"tr[data-dag-id={BACKUP}]")
    dump = backup["dump"]
    text = row.inner_text()
    assert row.get_attribute("data-verdict") == "green", text
    assert "verified backup taken" in row.locator("[data-rule]").inner_text()
    assert human_bytes(dump["size"]) in text and dump["sha256"][:12] in text
    assert "verified (" in text and "retention kept" in text
    components = frame.locator("[data-component]")
    assert components.count() == 4
    assert frame.locator("[data-component=scheduler]").get_attribute("data-status") == "healthy"
    for dag_id in ("platform_kit_log_cleanup", "platform_kit_export", "platform_kit_metadb_cleanup"):
        assert frame.locator(f"tr[data-dag-id={dag_id}] .pill").count() == 1

    row.get_by_role("link", name="log").click()
    page.wait_for_url(f"**/dags/{BACKUP}/runs/**/tasks/retention**")  # the UI itself, not nested in the frame
    assert page.locator("iframe[title=Platform]").count() == 0
    page.context.close()


def _query(twin, promql: str) -> list[dict]:
    response = requests.get(f"{twin.prometheus_url}/api/v1/query", params={"query": promql}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_the_backup_metrics_and_evaluates_the_dashboard(twin, backup):
    dump = backup["dump"]
    taken = parse_set_id(dump["set_id"]).timestamp()  # "<timestamp>-<token>": one per run

    def scraped() -> bool:
        result = _query(twin, "platform_kit_backup_last_verified_timestamp_seconds")
        return bool(result) and float(result[0]["value"][1]) == taken

    wait_for(scraped, TIMEOUT, "Prometheus to scrape the new backup")
    size = _query(twin, "platform_kit_backup_last_verified_size_bytes")
    assert float(size[0]["value"][1]) == dump["size"]
    state = _query(twin, f'platform_kit_dag_last_run_state{{dag_id="{BACKUP}",state="success"}}')
    assert float(state[0]["value"][1]) == 1
    from twin.prometheus import alerts

    # A twin with no earlier backup starts with the stale-backup alert firing; the next rule evaluation
    # after the scrape resolves it.
    wait_for(
        lambda: alerts(twin.prometheus_url, "PlatformKitBackupStale") == [],
        TIMEOUT,
        "the stale-backup alert to resolve after the verified backup",
    )

    board = json.loads((REPO / "monitoring/grafana/dashboards/platform-kit.json").read_text())
    kit = [t["expr"] for p in board["panels"] for t in p.get("targets", []) if "platform_kit_" in t["expr"]]
    answered = [expr for expr in kit if _query(twin, expr)]
    # Every kit panel evaluates; those that need a log cleanup, DB cleanup or export run may be empty.
    assert "time() - platform_kit_backup_last_verified_timestamp_seconds" in answered
    assert any("component_healthy" in expr for expr in answered) and any(
        "verdict" in expr for expr in answered
    )


def test_a_stopped_scheduler_fires_the_component_alert_in_prometheus(twin, browser):
    from twin.browser import log_in
    from twin.prometheus import alerts
    from twin.stack import UI_PASSWORD, UI_USER
    from twin.walkthrough import Walkthrough

    name = "PlatformKitComponentUnhealthy"

    def scheduler_alerts() -> list[dict]:
        return [a for a in alerts(twin.prometheus_url, name) if a["labels"].get("component") == "scheduler"]

    assert scheduler_alerts() == []
    page = _page(browser)
    log_in(page, twin.ui_url, UI_USER, UI_PASSWORD)
    alert = Walkthrough(twin, page, SHOTS).see_a_firing_alert(TIMEOUT)  # README step 9; starts it again
    page.context.close()
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == "Airflow scheduler is unhealthy"
    twin.client.wait_healthy(timeout=TIMEOUT)
    wait_for(lambda: not scheduler_alerts(), TIMEOUT, "the alert to clear once the scheduler is back")

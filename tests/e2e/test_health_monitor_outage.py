"""The README's health step on the twin: stop the scheduler the documented way, watch the receiver page
say so, start it again, watch it recover.

The twin's own health monitor does the watching (as compose's health-monitor service does), polling every
2 s in the e2e twin. The scheduler is stopped and started with ``scripts/sandbox stop|start scheduler`` from
a shell, and the alerts are read where a user reads them: the receiver page in Chromium.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from twin.browser import SHOTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DOWN = "Airflow scheduler is UNHEALTHY"
UP = "Airflow scheduler recovered"


def _sandbox(twin, *argv: str) -> str:
    result = subprocess.run(
        [str(REPO / "scripts" / "sandbox"), *argv, "--home", str(twin.home)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _scheduler_alerts(twin) -> list[str]:
    return [
        m["body"].get("text", "")
        for m in twin.receiver_messages()
        if isinstance(m["body"], dict) and "Airflow scheduler" in m["body"].get("text", "")
    ]


def test_readme_health_step_scheduler_outage_and_recovery_on_the_receiver_page(twin):
    from twin.browser import chromium_page

    SHOTS.mkdir(parents=True, exist_ok=True)
    twin.clear_receiver()
    assert "health-monitor" in _sandbox(twin, "status")
    try:
        assert _sandbox(twin, "stop", "scheduler").strip() == "scheduler stopped"
        with chromium_page() as page:
            page.goto(f"{twin.receiver_url}/")
            # The page refreshes itself every 3 s; the alert is the Block Kit header, as Slack shows it.
            page.locator("h3", has_text=DOWN).wait_for(timeout=180_000)
            page.screenshot(path=SHOTS / "08-health-outage.png", full_page=True)
            # The fact naming the Airflow is a link a user can click.
            assert page.locator(f'a[href="{twin.api_url}"]').count() >= 1
            assert _sandbox(twin, "start", "scheduler").startswith("scheduler started")
            page.locator("h3", has_text=UP).wait_for(timeout=240_000)
            page.screenshot(path=SHOTS / "09-health-recovered.png", full_page=True)
            assert (
                page.locator("h3", has_text=DOWN).count() == 1
            )  # one alert for the outage, not one per poll
            body = page.content()
        alerts = _scheduler_alerts(twin)
        assert [DOWN in a for a in alerts[:2]] == [True, False] and UP in alerts[1]
        assert "sandboxtoken" not in body  # the webhook's token is never shown
    finally:
        _sandbox(twin, "start", "scheduler")  # no-op when running: leave the twin whole for other tests
        twin.client.wait_healthy(timeout=240)

"""The health monitor against a real stack: stop the scheduler, one alert; start it, one recovery."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.e2e


def _health_messages(twin) -> list[str]:
    return [
        m["body"].get("text", "")
        for m in twin.receiver_messages()
        if isinstance(m["body"], dict) and "scheduler" in m["body"].get("text", "")
    ]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def test_scheduler_outage_gives_one_unhealthy_and_one_recovery_alert(twin):
    twin.clear_receiver()
    monitor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "platform_kit.cli",
            "health",
            "watch",
            "--api-url",
            twin.api_url,
            "--slack-conn-id",
            "slack_default",
            "--interval",
            "2",
            "--confirmations",
            "2",
        ],
        env=twin.airflow_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(6)  # a few healthy readings first: they must not alert
        assert _health_messages(twin) == []
        twin.component("scheduler").stop()
        down = _wait_for(lambda: _health_messages(twin), 150, "the unhealthy alert")
        assert len(down) == 1 and "UNHEALTHY" in down[0]
        twin.restart_component("scheduler")
        both = _wait_for(
            lambda: (m := _health_messages(twin)) and len(m) >= 2 and m, 150, "the recovery alert"
        )
        assert "recovered" in both[1]
        time.sleep(8)  # no repeats while the state holds
        assert len(_health_messages(twin)) == 2
    finally:
        monitor.terminate()
        output = monitor.communicate(timeout=30)[0]
        twin.client.wait_healthy(timeout=180)
    assert "hooks" not in output and "sandboxtoken" not in output  # the webhook URL is never logged

import pytest

from platform_kit.health.monitor import API_SERVER, HealthWatcher, Transition

pytestmark = pytest.mark.unit

HEALTHY = {API_SERVER: (True, ""), "scheduler": (True, "ok"), "triggerer": (True, "ok")}


def _with(**changes):
    return {**HEALTHY, **{k: (v, f"status {'healthy' if v else 'unhealthy'}") for k, v in changes.items()}}


def test_a_healthy_start_says_nothing():
    assert HealthWatcher().observe(HEALTHY) == []


def test_one_alert_per_change_and_one_per_recovery_after_confirmations():
    watcher = HealthWatcher(confirmations=2)
    readings = [
        HEALTHY,
        _with(scheduler=False),
        _with(scheduler=False),
        _with(scheduler=False),
        _with(scheduler=True),
        _with(scheduler=True),
        HEALTHY,
    ]
    transitions = [t for reading in readings for t in watcher.observe(reading)]
    assert transitions == [
        Transition("scheduler", False, "status unhealthy"),
        Transition("scheduler", True, "status healthy"),
    ]


def test_a_single_bad_reading_is_not_an_alert():
    watcher = HealthWatcher(confirmations=2)
    readings = [HEALTHY, _with(triggerer=False), HEALTHY, _with(triggerer=False), HEALTHY]
    assert [t for reading in readings for t in watcher.observe(reading)] == []


def test_unhealthy_at_start_is_reported():
    watcher = HealthWatcher(confirmations=1)
    assert watcher.observe(_with(triggerer=False)) == [Transition("triggerer", False, "status unhealthy")]


def test_an_unreachable_api_server_is_one_alert_and_keeps_the_other_states():
    watcher = HealthWatcher(confirmations=1)
    watcher.observe(HEALTHY)
    down = {API_SERVER: (False, "health endpoint unreachable: ConnectionError")}
    assert watcher.observe(down) == [
        Transition(API_SERVER, False, "health endpoint unreachable: ConnectionError")
    ]
    assert watcher.observe(down) == []
    assert watcher.observe(HEALTHY) == [Transition(API_SERVER, True, "")]

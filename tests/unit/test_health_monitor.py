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


def test_the_dead_mans_switch_reports_stale_and_fresh_once_each_and_keeps_state_when_unreadable():
    from platform_kit.health.backups import BACKUP, BACKUP_STORAGE
    from platform_kit.health.monitor import watch
    from twin.pgcluster import free_port

    readings = iter(
        [
            {BACKUP_STORAGE: (True, "listed"), BACKUP: (True, "verified backup taken 3 h ago")},
            {BACKUP_STORAGE: (True, "listed"), BACKUP: (False, "newest verified backup taken 27 h ago")},
            {BACKUP_STORAGE: (True, "listed"), BACKUP: (False, "newest verified backup taken 28 h ago")},
            {BACKUP_STORAGE: (False, "cannot list s3://b/metadb: AccessDenied")},
            {BACKUP_STORAGE: (True, "listed"), BACKUP: (False, "newest verified backup taken 29 h ago")},
            {BACKUP_STORAGE: (True, "listed"), BACKUP: (True, "verified backup taken 1 min ago")},
        ]
    )
    sent = []
    watch(
        f"http://127.0.0.1:{free_port()}",  # nobody listens: the health part only reports the api-server
        sent.append,
        interval=0,
        confirmations=99,
        iterations=range(6),
        check_backups=lambda: next(readings),
        backup_interval=0,
    )
    assert [(t.component, t.healthy, t.detail) for t in sent] == [
        (BACKUP, False, "newest verified backup taken 27 h ago"),
        (BACKUP_STORAGE, False, "cannot list s3://b/metadb: AccessDenied"),
        (BACKUP_STORAGE, True, "listed"),
        (BACKUP, True, "verified backup taken 1 min ago"),
    ]


def test_the_newest_verified_set_wins_whatever_the_listing_order():
    from datetime import UTC, datetime

    from platform_kit.health.backups import newest_verified
    from platform_kit.storage import BackupSet, parse_url

    url = parse_url("s3://backups/metadb")

    def backup(set_id: str, verified: bool) -> BackupSet:
        stamp = datetime.strptime(set_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        manifest = {"verification": {"ok": verified}}
        return BackupSet(set_id, url.child(set_id), stamp, manifest=manifest)

    sets = [
        backup("20261101T020000Z", True),
        backup("20261102T020000Z", True),
        backup("20261103T020000Z", False),
    ]
    assert newest_verified(sets).set_id == "20261102T020000Z"
    assert newest_verified([backup("20261103T020000Z", False)]) is None

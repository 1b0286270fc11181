"""Red, amber or green per maintenance DAG, and the rule in words that a person on call reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import status_samples as samples

from platform_kit.status.verdicts import AMBER, DRY_RUN_RULE, GREEN, RED, Thresholds, judge, verdict

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LOG, EXPORT, DBCLEAN = "platform_kit_log_cleanup", "platform_kit_export", "platform_kit_metadb_cleanup"


def rules(status, limits=None) -> list[tuple[str, str]]:
    return [(f.level, f.rule) for f in judge(status, NOW, limits)]


def hours(n: float) -> datetime:
    return NOW - timedelta(hours=n)


def test_a_fresh_verified_backup_is_green_and_says_how_old_it_is():
    assert rules(samples.healthy_backup(NOW, hours_ago=3)) == [(GREEN, "verified backup taken 3 h ago")]


def test_no_verified_backup_within_26_hours_is_red_and_names_the_limit_and_the_age():
    findings = judge(samples.healthy_backup(NOW, hours_ago=30), NOW)
    assert verdict(findings) == RED
    assert findings[0].rule == "no verified backup in 26 h (newest taken 30 h ago)"
    shorter = Thresholds(backup_max_age_hours=48)
    assert rules(samples.healthy_backup(NOW, hours_ago=30), shorter) == [
        (GREEN, "verified backup taken 30 h ago")
    ]


def test_a_backup_dag_that_never_verified_a_backup_is_red_even_when_it_ran():
    failed = samples.detail(
        hours(1), state="failed", tasks={"dump_and_upload": "failed", "verify": "upstream_failed"}
    )
    status = samples.dag_status("platform_kit_metadb_backup", last_run=failed)
    assert rules(status) == [
        (RED, "no verified backup yet"),
        (RED, "last run failed 55 min ago in dump_and_upload"),
    ]


def test_a_failed_newest_run_is_red_even_if_an_older_backup_is_fresh():
    status = samples.healthy_backup(NOW, hours_ago=5)
    status.last_run = samples.detail(hours(1), state="failed", tasks={"retention": "failed"})
    findings = judge(status, NOW)
    assert verdict(findings) == RED
    assert [f.rule for f in findings] == ["last run failed 55 min ago in retention"]


def test_a_paused_or_missing_dag_is_amber_with_the_reason():
    paused = samples.healthy_backup(NOW, hours_ago=2)
    paused.paused = True
    assert rules(paused) == [(AMBER, "paused: no new backups")]
    missing = samples.dag_status(LOG, deployed=False)
    assert rules(missing) == [
        (AMBER, "DAG not found in this Airflow: is the platform-kit bundle configured?"),
        (AMBER, "never ran"),
    ]


def test_other_dags_turn_amber_when_they_miss_their_daily_success():
    fresh = samples.dag_status(
        DBCLEAN,
        last_run=(run := samples.detail(hours(20), {"clean": samples.db_cleanup({"log": 5})})),
        last_success=run,
    )
    assert verdict(judge(fresh, NOW)) == GREEN
    old = samples.dag_status(
        EXPORT, last_run=(run := samples.detail(hours(40), {"export": samples.export()})), last_success=run
    )
    assert rules(old) == [(AMBER, "no successful run in 26 h (last 39 h ago)")]


def test_log_volume_use_from_the_last_cleanup_turns_the_row_amber_then_red():
    def cleanup(percent: float):
        run = samples.detail(hours(2), {"clean_logs": samples.log_cleanup(used_percent=percent)})
        return samples.dag_status(LOG, last_run=run, last_success=run)

    assert verdict(judge(cleanup(60), NOW)) == GREEN
    assert rules(cleanup(88)) == [(AMBER, "log volume on worker-1 88 % full")]
    assert rules(cleanup(97)) == [(RED, "log volume on worker-1 97 % full")]
    assert verdict(judge(cleanup(97), NOW, Thresholds(log_volume_critical_percent=99))) == AMBER


def test_a_dry_run_only_and_a_plaintext_export_are_worth_a_look():
    dry = samples.detail(hours(2), {"clean_logs": samples.log_cleanup(dry_run=True)})
    assert (AMBER, DRY_RUN_RULE) in rules(samples.dag_status(LOG, last_run=dry, last_success=dry))
    plain = samples.detail(hours(2), {"export": samples.export(plaintext=True)})
    assert rules(samples.dag_status(EXPORT, last_run=plain, last_success=plain)) == [
        (AMBER, "last export is PLAINTEXT: set encrypt and the export key")
    ]


def test_a_running_rerun_after_a_failure_is_not_red():
    status = samples.healthy_backup(NOW, hours_ago=5)
    status.last_run = samples.detail(hours(0.1), state="running", tasks={"dump_and_upload": "running"})
    assert verdict(judge(status, NOW)) == GREEN


def test_thresholds_come_from_the_platform_kit_section(monkeypatch):
    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__BACKUP_MAX_AGE_HOURS", "6")
    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__LOG_VOLUME_WARN_PERCENT", "70")
    limits = Thresholds.from_settings()
    assert limits.backup_max_age_hours == 6 and limits.log_volume_warn_percent == 70
    assert limits.log_volume_critical_percent == 95 and limits.maintenance_max_age_hours == 26

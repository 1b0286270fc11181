"""Each maintenance DAG's run summary in the words the Platform page shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import status_samples as samples

from platform_kit.status.catalog import MAINTENANCE_DAGS
from platform_kit.status.summaries import backup_facts, describe

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_catalog_lists_every_maintenance_dag_the_bundle_ships(dag_bag):
    shipped = {dag_id for dag_id, dag in dag_bag.dags.items() if "maintenance" in dag.tags}
    assert {dag.dag_id for dag in MAINTENANCE_DAGS} == shipped
    for entry in MAINTENANCE_DAGS:
        task_ids = set(dag_bag.dags[entry.dag_id].task_ids)
        assert entry.report_task in task_ids
        assert all(entry.holds_summary(t) for t in task_ids if t.startswith(entry.report_task))
        for pattern in entry.summary_tasks:
            prefix = pattern[:-1] if pattern.endswith("*") else None
            assert any(t.startswith(prefix) if prefix else t == pattern for t in task_ids), pattern


def test_backup_size_short_sha_verification_restore_test_and_retention():
    status = samples.healthy_backup(NOW)
    assert describe(status) == [
        "117.7 MiB",
        "SHA-256 3f2a9c1e0b7d",
        "verified (412 TOC entries)",
        "restore-tested: 57 tables, 0 mismatches",
        "retention kept 7, deleted 1",
    ]
    facts = backup_facts(status.last_verified)
    assert facts.taken_at == (NOW - timedelta(hours=3)).replace(microsecond=0)  # from the set id


def test_a_backup_without_restore_test_or_retention_says_what_it_has():
    taken = NOW - timedelta(hours=5)
    run = samples.detail(
        taken,
        {
            "dump_and_upload": samples.backup_dump(taken),
            "verify": samples.backup_verify(taken, restore_test=False),
        },
        state="failed",
        tasks={"retention": "failed"},
    )
    status = samples.dag_status("platform_kit_metadb_backup", last_run=run, last_verified=run)
    assert describe(status) == [
        "117.7 MiB",
        "SHA-256 3f2a9c1e0b7d",
        "verified (412 TOC entries)",
        "not restore-tested",
    ]


def test_log_cleanup_files_bytes_and_volume_and_one_line_per_host_with_queues():
    one = samples.detail(NOW, {"clean_logs": samples.log_cleanup()})
    status = samples.dag_status("platform_kit_log_cleanup", last_run=one, last_success=one)
    assert describe(status) == [
        "deleted 1,204 files (3.0 GiB)",
        "log volume 63 % used (40.3 GiB of 64.0 GiB)",
    ]

    two = samples.detail(
        NOW,
        {
            "clean_logs_etl": samples.log_cleanup(host="etl-1", files=1),
            "clean_logs_ml": samples.log_cleanup(host="ml-1", dry_run=True, used_percent=90),
        },
    )
    lines = describe(samples.dag_status("platform_kit_log_cleanup", last_success=two))
    assert lines[:2] == ["etl-1: deleted 1 file (3.0 GiB)", "ml-1: would delete 1,204 files (3.0 GiB)"]
    assert lines[3].startswith("log volume on ml-1 90 % used")


def test_remote_log_cleanup_shows_its_bucket_folder_after_the_hosts():
    run = samples.detail(
        NOW,
        {
            "clean_remote_logs": samples.remote_log_cleanup(dry_run=True),
            "clean_logs": samples.log_cleanup(host="worker-1", files=3),
        },
    )
    assert describe(samples.dag_status("platform_kit_log_cleanup", last_success=run)) == [
        "worker-1: deleted 3 files (3.0 GiB)",
        "s3://logs-bucket/airflow: would delete 5,120 objects (2.0 GiB)",
        "log volume on worker-1 63 % used (40.3 GiB of 64.0 GiB)",
    ]


def test_export_counts_size_and_encryption():
    run = samples.detail(NOW, {"export": samples.export()})
    assert describe(samples.dag_status("platform_kit_export", last_success=run)) == [
        "12 variables, 5 connections",
        "4.1 KiB, AES-256-GCM",
        "retention kept 7",
    ]


def test_db_cleanup_rows_per_table_largest_first_and_dry_runs_say_would():
    real = samples.detail(NOW, {"clean": samples.db_cleanup({"log": 1030, "task_instance": 8000, "xcom": 0})})
    assert describe(samples.dag_status("platform_kit_metadb_cleanup", last_success=real)) == [
        "deleted 9,030 rows",
        "task_instance 8,000",
        "log 1,030",
    ]
    dry = samples.detail(NOW, {"clean": samples.db_cleanup({"dag_run": 12}, dry_run=True)})
    assert describe(samples.dag_status("platform_kit_metadb_cleanup", last_success=dry)) == [
        "would delete 12 rows",
        "dag_run 12",
    ]


def test_an_unexpected_summary_shape_is_skipped_not_guessed():
    odd = samples.detail(NOW, {"clean_logs": {"files_deleted": "many"}, "export": {"variables": None}})
    assert describe(samples.dag_status("platform_kit_log_cleanup", last_success=odd)) == []
    assert describe(samples.dag_status("platform_kit_export", last_success=odd)) == []


AGES = [(-3, "0 s"), (42, "42 s"), (60, "1 min"), (3599, "59 min"), (3 * 3600 + 300, "3 h 5 min")]
AGES += [(36000, "10 h"), (26 * 3600 + 59, "26 h"), (49 * 3600, "2 d 1 h"), (72 * 3600, "3 d")]


@pytest.mark.parametrize(("seconds", "text"), AGES)
def test_ages_read_at_a_glance(seconds, text):
    from platform_kit.utils import human_duration

    assert human_duration(seconds) == text

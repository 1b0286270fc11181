"""The Prometheus exposition: conventional names (checked by ``promtool check metrics``), the values the
page shows, nothing secret, and every metric documented in docs/monitoring.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import status_samples as samples
from prometheus_client.parser import text_string_to_metric_families

from platform_kit.status.metrics import METRICS, PREFIX, StatusCollector, exposition
from platform_kit.status.model import Component, PlatformStatus
from platform_kit.status.verdicts import judge

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def reading() -> PlatformStatus:
    backup = samples.healthy_backup(NOW, hours_ago=3)
    logs = samples.detail(
        NOW - timedelta(hours=2),
        {
            "clean_logs": samples.log_cleanup(used_percent=91.5),
            "clean_remote_logs": samples.remote_log_cleanup(),
        },
    )
    export = samples.detail(NOW - timedelta(hours=4), {"export": samples.export()})
    failed = samples.detail(NOW - timedelta(hours=1), state="failed", tasks={"clean": "failed"})
    clean = samples.detail(NOW - timedelta(hours=25), {"clean": samples.db_cleanup({"log": 7, "xcom": 3})})
    return PlatformStatus(
        generated_at=NOW,
        dags=[
            backup,
            samples.dag_status("platform_kit_log_cleanup", last_run=logs, last_success=logs),
            samples.dag_status("platform_kit_export", paused=True, last_run=export, last_success=export),
            samples.dag_status("platform_kit_metadb_cleanup", last_run=failed, last_success=clean),
        ],
        components=[
            Component("metadatabase", "healthy"),
            Component("scheduler", "unhealthy", NOW - timedelta(minutes=3)),
            Component("dag_processor", "healthy", NOW),
            Component("triggerer", None),
        ],
        airflow_version="3.3.2",
        kit_version="0.1.0",
    )


def scrape(status: PlatformStatus, **kwargs) -> str:
    findings = {dag.dag_id: judge(dag, status.generated_at) for dag in status.dags}
    body, content_type = exposition(StatusCollector(status, findings, **kwargs))
    assert content_type.startswith("text/plain; version=0.0.4")
    return body.decode()


def samples_of(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels) -> float:
    return samples_of(text)[(PREFIX + name, tuple(sorted(labels.items())))]


def test_promtool_finds_nothing_to_criticise_in_the_names_types_and_units():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/bootstrap (Debian package prometheus)"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=scrape(reading()), capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout + result.stderr
    )


def test_the_issue_named_metrics_carry_what_the_page_shows():
    text = scrape(reading())
    taken = (NOW - timedelta(hours=3)).replace(microsecond=0)
    assert value(text, "backup_last_verified_timestamp_seconds") == taken.timestamp()
    assert value(text, "backup_last_verified_size_bytes") == 123_456_789
    assert value(text, "backup_last_verified_restore_tested") == 1
    assert (
        value(text, "dag_last_success_timestamp_seconds", dag_id="platform_kit_export")
        == (NOW - timedelta(hours=4) + timedelta(minutes=5)).timestamp()
    )
    failed = "platform_kit_metadb_cleanup"
    assert value(text, "dag_last_run_state", dag_id=failed, state="failed") == 1
    assert value(text, "dag_last_run_state", dag_id=failed, state="success") == 0
    assert value(text, "dag_verdict", dag_id=failed, verdict="red") == 1
    assert value(text, "dag_verdict", dag_id="platform_kit_log_cleanup", verdict="amber") == 1
    assert value(text, "dag_paused", dag_id="platform_kit_export") == 1
    assert value(text, "log_cleanup_last_freed_bytes", host="worker-1") == 3 * 1024**3
    assert value(text, "log_volume_used_ratio", host="worker-1") == pytest.approx(0.915)
    # The remote folder's cleanup under one stable label, never the bucket's name.
    assert value(text, "log_cleanup_last_freed_bytes", host="remote") == 2 * 1024**3
    assert value(text, "log_cleanup_last_deleted_files", host="remote") == 5120
    assert "logs-bucket" not in text
    assert value(text, "db_cleanup_last_deleted_rows", table="log") == 7
    assert value(text, "export_last_items", type="connections") == 5
    assert value(text, "component_healthy", component="scheduler") == 0
    assert value(text, "component_healthy", component="triggerer") == 0  # never ran is not healthy
    assert value(text, "component_healthy", component="dag_processor") == 1
    assert value(text, "status_up") == 1


def test_a_backup_dag_that_never_verified_anything_reports_zero_so_the_stale_alert_fires():
    status = reading()
    status.dags[0] = samples.dag_status("platform_kit_metadb_backup")
    text = scrape(status)
    assert value(text, "backup_last_verified_timestamp_seconds") == 0
    assert value(text, "dag_last_run_state", dag_id="platform_kit_metadb_backup", state="none") == 1
    assert (PREFIX + "backup_last_verified_size_bytes", ()) not in samples_of(text)


def test_an_unreadable_db_is_a_series_not_an_error_page():
    status = PlatformStatus(
        generated_at=NOW, components=[Component("metadatabase", "unhealthy")], error="boom"
    )
    text = scrape(status, read_errors_total=3)
    assert value(text, "status_up") == 0
    assert samples_of(text)[(PREFIX + "status_read_errors_total", ())] == 3
    assert not any(name.startswith(PREFIX + "dag_") for name, _ in samples_of(text))


def test_nothing_secret_or_free_text_leaks_into_labels_or_values():
    text = scrape(reading())
    assert "s3://" not in text and "3f2a9c1e0b7d" not in text and "fingerprint" not in text
    label_values = {v for _, labels in samples_of(text) for _, v in labels}
    allowed = re.compile(r"^[A-Za-z0-9_.\-]+$")
    assert all(allowed.match(v) for v in label_values), label_values


def test_every_exposed_and_declared_metric_is_listed_in_the_monitoring_doc():
    doc = (REPO / "docs" / "monitoring.md").read_text()
    exposed = {family.name for family in text_string_to_metric_families(scrape(reading()))}
    declared = {PREFIX + name for name in METRICS}
    assert exposed <= declared
    for name, (kind, _) in METRICS.items():
        shown = PREFIX + name + ("_total" if kind == "counter" else "")
        assert f"`{shown}`" in doc, f"{shown} is not documented in docs/monitoring.md"

"""The Platform page's HTML: one row per maintenance DAG, its verdict and rule, links into the UI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
import status_samples as samples

from platform_kit.status.model import Component, PlatformStatus
from platform_kit.status.page import render
from platform_kit.status.verdicts import judge

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Page(HTMLParser):
    """Collects the rows (by ``data-dag-id``), their text, and every link."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, dict] = {}
        self.links: list[str] = []
        self.components: dict[str, str] = {}
        self._row: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-dag-id" in attrs:
            self._row = attrs["data-dag-id"]
            self.rows[self._row] = {"verdict": attrs["data-verdict"], "text": "", "links": []}
        if tag == "a":
            self.links.append(attrs["href"])
            if self._row:
                self.rows[self._row]["links"].append(attrs["href"])
        if "data-component" in attrs:
            self.components[attrs["data-component"]] = attrs["data-status"]

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._row:
            self.rows[self._row]["text"] += data


def page_for(status: PlatformStatus, **kwargs) -> Page:
    findings = {dag.dag_id: judge(dag, status.generated_at) for dag in status.dags}
    return Page(render(status, findings, **kwargs))


def test_one_row_per_dag_with_verdict_rule_state_and_summary():
    failed = samples.detail(NOW - timedelta(hours=1), state="failed", tasks={"clean": "failed"})
    status = PlatformStatus(
        generated_at=NOW,
        dags=[
            samples.healthy_backup(NOW, hours_ago=30),
            samples.dag_status("platform_kit_metadb_cleanup", last_run=failed),
            samples.dag_status("platform_kit_export", paused=True),
            samples.dag_status("platform_kit_log_cleanup", deployed=False),
        ],
        components=[Component("scheduler", "unhealthy"), Component("triggerer", None)],
        airflow_version="3.3.2",
        kit_version="0.1.0",
    )
    page = page_for(status)
    assert list(page.rows) == [d.dag_id for d in status.dags]
    backup = page.rows["platform_kit_metadb_backup"]
    assert backup["verdict"] == "red"
    assert "no verified backup in 26 h (newest taken 30 h ago)" in backup["text"]
    assert "117.7 MiB" in backup["text"] and "restore-tested: 57 tables, 0 mismatches" in backup["text"]
    assert "active" in backup["text"]
    assert "last run failed 55 min ago in clean" in page.rows["platform_kit_metadb_cleanup"]["text"]
    assert "paused" in page.rows["platform_kit_export"]["text"]
    assert "not deployed" in page.rows["platform_kit_log_cleanup"]["text"]
    assert page.components == {"scheduler": "UNHEALTHY", "triggerer": "never reported"}


def test_links_open_the_run_and_the_task_log_under_the_ui_prefix():
    status = PlatformStatus(generated_at=NOW, dags=[samples.healthy_backup(NOW)])
    run_id = status.dags[0].last_run.run.run_id
    quoted = run_id.replace(":", "%3A").replace("+", "%2B")
    links = page_for(status, ui_root="/airflow").rows["platform_kit_metadb_backup"]["links"]
    assert f"/airflow/dags/platform_kit_metadb_backup/runs/{quoted}" in links
    assert f"/airflow/dags/platform_kit_metadb_backup/runs/{quoted}/tasks/retention?try_number=1" in links


def test_a_failed_run_links_its_failed_task_log_from_the_rule():
    failed = samples.detail(NOW - timedelta(hours=1), state="failed", tasks={"clean": "failed"})
    status = PlatformStatus(
        generated_at=NOW, dags=[samples.dag_status("platform_kit_metadb_cleanup", last_run=failed)]
    )
    assert any(link.endswith("/tasks/clean?try_number=1") for link in page_for(status).links)


def test_every_value_is_escaped():
    run = samples.detail(
        NOW, {"clean_logs": samples.log_cleanup(host="<script>alert(1)</script>", used_percent=90)}
    )
    status = PlatformStatus(
        generated_at=NOW,
        dags=[samples.dag_status("platform_kit_log_cleanup", last_run=run, last_success=run)],
        error="could not read <the> DB",
    )
    findings = {d.dag_id: judge(d, NOW) for d in status.dags}
    html = render(status, findings)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "could not read &lt;the&gt; DB" in html

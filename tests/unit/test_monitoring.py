"""The monitoring assets: alert rules (``promtool test rules``), the Prometheus config, the statsd mapping
and the Grafana dashboard, checked against each other and against the metrics that really exist."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from platform_kit.status.metrics import METRICS, PREFIX

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
PROMETHEUS = MONITORING / "prometheus"
MAPPING = MONITORING / "statsd" / "statsd-mapping.yml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "platform-kit.json"
ISSUE_ALERTS = {"PlatformKitBackupStale", "PlatformKitMaintenanceFailing", "PlatformKitComponentUnhealthy"}

# What Airflow sends to statsd (prefix "airflow"), one line per mapped family, with the series it must give.
AIRFLOW_STATSD = {
    "airflow.scheduler_heartbeat": ("airflow_scheduler_heartbeat_total", {}),
    "airflow.dag_processor_heartbeat": ("airflow_dag_processor_heartbeat_total", {}),
    "airflow.triggerer_heartbeat": ("airflow_triggerer_heartbeat_total", {}),
    "airflow.dag_processing.total_parse_time": ("airflow_dag_processing_total_parse_time_seconds", {}),
    "airflow.dag_processing.last_duration.dags-folder.etl__py": (
        "airflow_dag_processing_last_duration_seconds",
        {"bundle": "dags-folder", "file": "etl__py"},
    ),
    "airflow.ti_failures": ("airflow_ti_failures_total", {}),
    "airflow.ti.finish.etl.group__load.failed": (
        "airflow_ti_finish_total",
        {"dag_id": "etl", "task_id": "group__load", "state": "failed"},
    ),
    "airflow.dag.etl.load.duration": ("airflow_task_duration_seconds", {"dag_id": "etl", "task_id": "load"}),
    "airflow.dagrun.duration.success.etl": (
        "airflow_dagrun_duration_seconds",
        {"state": "success", "dag_id": "etl"},
    ),
    "airflow.pool.open_slots.default_pool": ("airflow_pool_open_slots", {"pool": "default_pool"}),
    "airflow.pool.running_slots.default_pool": ("airflow_pool_running_slots", {"pool": "default_pool"}),
    "airflow.pool.queued_slots.default_pool": ("airflow_pool_queued_slots", {"pool": "default_pool"}),
    "airflow.executor.open_slots.LocalExecutor": (
        "airflow_executor_open_slots",
        {"executor": "LocalExecutor"},
    ),
    # Tagged metrics also arrive under their plain name, without the tags: ambiguous, so dropped.
    "airflow.pool.open_slots": (None, {}),
    "airflow.ti.finish": (None, {}),
}


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: run scripts/bootstrap (Debian package prometheus)"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True)


def statsd_map(line: str, mapping: dict) -> tuple[str | None, dict[str, str]]:
    """What statsd-exporter does with a metric name: glob ``*`` = one dot-free segment; first match wins."""
    for rule in mapping["mappings"]:
        if rule.get("match_type") == "regex":
            pattern = rule["match"]
        else:
            pattern = "^" + re.escape(rule["match"]).replace(r"\*", "([^.]+)") + "$"
        found = re.search(pattern, line)
        if found:
            if rule.get("action") == "drop":
                return None, {}
            groups = found.groups()
            labels = {
                k: re.sub(r"\$(\d+)", lambda m, g=groups: g[int(m.group(1)) - 1], v)
                for k, v in rule.get("labels", {}).items()
            }
            return rule["name"], labels
    return line.replace(".", "_"), {}


def dashboard_exprs() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in board["panels"] if p["type"] != "row" for t in p["targets"]]


def test_the_alert_rules_pass_their_promtool_unit_tests():
    checked = promtool("check", "rules", "platform-kit-rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "platform-kit-rules.test.yml")
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    rules = yaml.safe_load((PROMETHEUS / "platform-kit-rules.yml").read_text())
    names = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    assert names >= ISSUE_ALERTS
    tests = (PROMETHEUS / "platform-kit-rules.test.yml").read_text()
    assert all(f"alertname: {name}" in tests for name in names), "every alert has a promtool test"


def test_the_rules_only_read_metrics_the_kit_exposes():
    rules = yaml.safe_load((PROMETHEUS / "platform-kit-rules.yml").read_text())
    for rule in (r for group in rules["groups"] for r in group["rules"]):
        for metric in re.findall(r"\bplatform_kit_[a-z_]+", rule["expr"]):
            assert metric.removeprefix(PREFIX) in METRICS, (rule["alert"], metric)


def test_the_prometheus_config_is_valid_and_scrapes_the_kit_and_statsd_exporter():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["platform-kit"]["metrics_path"] == "/platform-kit/metrics"
    assert jobs["platform-kit"]["static_configs"][0]["targets"] == ["airflow-apiserver:8080"]
    assert jobs["airflow-statsd"]["static_configs"][0]["targets"] == ["statsd-exporter:9102"]
    assert config["rule_files"] == ["platform-kit-rules.yml"]


def test_the_statsd_mapping_turns_airflows_names_into_labelled_series():
    mapping = yaml.safe_load(MAPPING.read_text())
    for line, expected in AIRFLOW_STATSD.items():
        assert statsd_map(line, mapping) == expected, line
    assert statsd_map("airflow.some_future_metric", mapping) == (None, {})  # unmapped: dropped


def test_every_mapped_pattern_is_a_metric_this_airflow_sends():
    """Checked against Airflow's metric registry where it ships one (3.2+): a renamed metric fails here."""
    spec = importlib.util.find_spec("airflow")
    templates = [
        p for root in spec.submodule_search_locations for p in Path(root).rglob("metrics_template.yaml")
    ]
    if not templates:
        pytest.skip("this Airflow version ships no metric registry; the examples above still apply")
    registry = yaml.safe_load(templates[0].read_text())["metrics"]
    known = set()
    for entry in registry:
        for name in (entry["name"], entry.get("legacy_name", "-")):
            if name != "-":
                known.add("airflow." + re.sub(r"\{[^}]+\}", "*", name))
    mapping = yaml.safe_load(MAPPING.read_text())
    for rule in mapping["mappings"]:
        if rule.get("action") != "drop":
            # A registry can lag its own release (3.2's lists dag_processing.last_duration.{dag_file} while
            # its dag-processor sends .{bundle}.{file}); then Airflow's source, the final word, must send it.
            sent = rule["match"] in known or _sent_by_source(rule["match"], spec.submodule_search_locations)
            assert sent, f"{rule['match']} is not a metric Airflow sends"


def _sent_by_source(pattern: str, roots) -> bool:
    """Whether Airflow's source names ``pattern`` as a literal metric name (``*`` = one f-string field)."""
    name = re.escape(pattern.removeprefix("airflow.")).replace(r"\*", r"\{[^}]+\}")
    literal = re.compile(r"""Stats\.\w+\(\s*f?["']""" + name + r"""["']""")
    return any(
        literal.search(path.read_text(errors="replace"))
        for root in roots
        for path in Path(root).rglob("*.py")
    )


def test_every_dashboard_query_is_valid_promql_over_metrics_that_exist(tmp_path):
    board = json.loads(DASHBOARD.read_text())
    datasource = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    assert all(p["datasource"]["uid"] == uid and p["targets"] for p in panels)

    # promtool parses every query as a recording rule.
    exprs = dashboard_exprs()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"panel:{i}", "expr": e} for i, (_, e) in enumerate(exprs)],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    mapping = yaml.safe_load(MAPPING.read_text())
    statsd_names = {rule["name"] for rule in mapping["mappings"] if rule.get("action") != "drop"}
    statsd_names |= {
        f"{n}{s}" for n in statsd_names if n.endswith("_seconds") for s in ("_bucket", "_sum", "_count")
    }
    kit_names = {PREFIX + n + ("_total" if kind == "counter" else "") for n, (kind, _) in METRICS.items()}
    used = {m for _, e in exprs for m in re.findall(r"\b(?:platform_kit|airflow)_[a-z_]+", e)}
    assert used - kit_names - statsd_names == set()
    # The issue's four Airflow views and the kit's own metrics are both on the board.
    assert {"airflow_scheduler_heartbeat_total", "airflow_dag_processing_total_parse_time_seconds"} <= used
    assert {"airflow_ti_failures_total", "airflow_pool_open_slots"} <= used
    assert {PREFIX + "backup_last_verified_timestamp_seconds", PREFIX + "component_healthy"} <= used


def test_the_twins_prometheus_is_composes_with_its_own_address_and_shorter_waits(tmp_path):
    from twin import prometheus as twin_prometheus

    config = twin_prometheus.twin_config("127.0.0.1:18080", str(tmp_path / "rules.yml"))
    compose = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    kit_job = next(j for j in compose["scrape_configs"] if j["job_name"] == "platform-kit")
    twin_job = next(j for j in config["scrape_configs"] if j["job_name"] == "platform-kit")
    assert twin_job == {**kit_job, "static_configs": [{"targets": ["127.0.0.1:18080"]}]}
    assert {j["job_name"] for j in config["scrape_configs"]} == {
        j["job_name"] for j in compose["scrape_configs"]
    } - twin_prometheus.COMPOSE_ONLY_JOBS

    rules = twin_prometheus.twin_rules()
    original = yaml.safe_load((PROMETHEUS / "platform-kit-rules.yml").read_text())
    shortened = [r for g in rules["groups"] for r in g["rules"]]
    assert [{**r, "for": None} for r in shortened] == [
        {**r, "for": None} for g in original["groups"] for r in g["rules"]
    ]
    assert {r["for"] for r in shortened} == {twin_prometheus.RULE_FOR}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

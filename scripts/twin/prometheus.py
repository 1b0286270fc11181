"""Prometheus from the Debian package, scraping the twin's ``/platform-kit/metrics`` with the kit's rules.

Its configuration is compose's ``monitoring/prometheus/prometheus.yml`` with the twin's addresses: the
api-server's loopback port for ``airflow-apiserver:8080``, and no ``airflow-statsd`` job (Debian ships no
statsd-exporter, and the twin's Airflow sends no statsd). The rules are the kit's
``platform-kit-rules.yml`` with every ``for:`` and the intervals shortened, so an e2e test sees an alert
fire within a minute of its cause. ``tests/unit/test_monitoring.py`` checks the derivation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from twin.loopback import LOOPBACK
from twin.services import ServiceProcess, spawn, wait_http

REPO = Path(__file__).resolve().parents[2]
COMPOSE_CONFIG = REPO / "monitoring" / "prometheus" / "prometheus.yml"
RULES = REPO / "monitoring" / "prometheus" / "platform-kit-rules.yml"
COMPOSE_API = "airflow-apiserver:8080"
#: Jobs compose has and the twin cannot run.
COMPOSE_ONLY_JOBS = {"airflow-statsd"}
#: Scrapes and rule evaluations; the api-server is shared with the tasks, so not more often than this.
INTERVAL = "10s"
#: Debian's Prometheus ships only the classic web UI.
ALERTS_PAGE = "/classic/alerts"
RULE_FOR = "10s"


def twin_config(api_address: str, rules_file: str) -> dict:
    """Compose's Prometheus config pointed at the twin (``api_address`` is ``host:port``)."""
    config = yaml.safe_load(COMPOSE_CONFIG.read_text())
    config["global"] = {
        **config.get("global", {}),
        "scrape_interval": INTERVAL,
        "evaluation_interval": INTERVAL,
    }
    config["rule_files"] = [rules_file]
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in COMPOSE_ONLY_JOBS:
            continue
        for static in job.get("static_configs", []):
            static["targets"] = [api_address if t == COMPOSE_API else t for t in static["targets"]]
        jobs.append(job)
    config["scrape_configs"] = jobs
    return config


def twin_rules() -> dict:
    """The kit's alert rules with every ``for:`` shortened to :data:`RULE_FOR`."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = INTERVAL
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = RULE_FOR
    return rules


def start_prometheus(home: Path, api_url: str, port: int, log_dir: Path) -> ServiceProcess:
    """Write the twin's config and rules under ``home/prometheus`` and start Prometheus on ``port``
    (loopback); returns when it is ready. Needs Debian's ``prometheus`` (:func:`installed`)."""
    folder = home / "prometheus"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "platform-kit-rules.yml").write_text(yaml.safe_dump(twin_rules(), sort_keys=False))
    api_address = api_url.split("://", 1)[-1].rstrip("/")
    config = twin_config(api_address, str(folder / "platform-kit-rules.yml"))
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    service = spawn(
        "prometheus",
        [
            str(shutil.which("prometheus")),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--storage.tsdb.retention.time=1d",
        ],
        f"http://{LOOPBACK}:{port}",
        log_dir,
    )
    wait_http(service, "/-/ready", timeout=60)
    return service


def installed() -> bool:
    """Whether Debian's ``prometheus`` is there (``scripts/bootstrap`` installs it)."""
    return shutil.which("prometheus") is not None


def alerts(prometheus_url: str, name: str) -> list[dict]:
    """The instances of alert ``name`` Prometheus' HTTP API lists (pending or firing)."""
    import requests

    response = requests.get(f"{prometheus_url}/api/v1/alerts", timeout=30)
    response.raise_for_status()
    return [a for a in response.json()["data"]["alerts"] if a["labels"]["alertname"] == name]


def firing_alerts(prometheus_url: str, name: str) -> list[dict]:
    """The instances of alert ``name`` that are firing."""
    return [a for a in alerts(prometheus_url, name) if a["state"] == "firing"]


def open_alert(page, prometheus_url: str, alert: str) -> None:
    """Show ``alert`` unfolded on Prometheus' alerts page in a Playwright ``page`` (for screenshots).

    The classic UI's font stack reaches the colour-emoji font for digits; plain sans-serif reads better.
    """
    page.goto(prometheus_url + ALERTS_PAGE)
    page.add_style_tag(content="body { font-family: 'DejaVu Sans', sans-serif !important; }")
    page.get_by_text(alert).first.click()
    page.get_by_text("FIRING").first.wait_for()

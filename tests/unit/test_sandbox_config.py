"""The compose sandbox, validated with a real compose parser, and its parity with the twin."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from twin import sandbox_env

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
# One-shot job: it exits when done, so a healthcheck has nothing to probe; others wait on its
# successful completion instead (service_completed_successfully).
ONE_SHOT_SERVICES = {"airflow-init"}


@pytest.fixture(scope="module")
def compose() -> dict:
    """The file as `docker-compose config` resolves it (anchors, env_file, defaults applied)."""
    parser = shutil.which("docker-compose")
    assert parser, "docker-compose (the compose parser) is missing: run scripts/bootstrap"
    result = subprocess.run(
        [parser, "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},  # no AIRFLOW_UID/.env: the sandbox must run with none
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _published(service: dict) -> list[str]:
    return [str(port) for port in service.get("ports", [])]


def test_every_long_running_service_has_a_healthcheck(compose):
    missing = [
        name
        for name, svc in compose["services"].items()
        if name not in ONE_SHOT_SERVICES and "test" not in svc.get("healthcheck", {})
    ]
    assert missing == []


def test_every_published_port_is_bound_to_loopback(compose):
    for name, svc in compose["services"].items():
        for port in _published(svc):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_every_bind_mounted_path_exists(compose):
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith(("/", ".")):
                assert (REPO / source).resolve().exists() or Path(source).exists(), (name, source)


def test_airflow_image_matches_the_locked_version(compose):
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = next(p["version"] for p in lock["package"] if p["name"] == "apache-airflow")
    images = {
        svc["image"] for svc in compose["services"].values() if "apache/airflow" in svc.get("image", "")
    }
    assert images == {f"apache/airflow:{locked}"}


def test_every_airflow_service_gets_the_shared_definitions(compose):
    shared = sandbox_env.load()
    airflow_services = [
        n for n, s in compose["services"].items() if "AIRFLOW__CORE__EXECUTOR" in s.get("environment", {})
    ]
    assert {
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-worker",
        "airflow-triggerer",
        "airflow-init",
        "health-monitor",
    } <= set(airflow_services)
    for name in airflow_services:
        env = compose["services"][name]["environment"]
        for key, value in shared.items():
            assert key in env, f"{name} lacks {key}"
            assert _as_json(env[key]) == _as_json(value), f"{name}: {key} differs from sandbox/airflow.env"


def test_the_twin_reads_the_same_definitions_with_only_addresses_changed():
    shared = sandbox_env.load()
    twin_addresses = {
        "postgres": "127.0.0.1:6543",
        "s3": "http://127.0.0.1:1",
        "gcs": "http://127.0.0.1:2",
        "slack-receiver": "http://127.0.0.1:3",
        "airflow-apiserver": "http://127.0.0.1:4",
    }
    twin_env = sandbox_env.twin_environment(twin_addresses)
    assert twin_env.keys() == shared.keys()
    for key, value in twin_env.items():
        # Mapping the twin's addresses back to compose's gives the shared file again, exactly.
        restored = value
        for service, address in twin_addresses.items():
            restored = restored.replace(address, sandbox_env.COMPOSE_ADDRESSES[service])
        restored = _as_json(restored)
        if isinstance(restored, dict) and restored.get("host") == "127.0.0.1":
            restored = {**restored, "host": "postgres", "port": 5432}
        assert restored == _as_json(shared[key]), key
        assert "postgres:5432" not in value and "://s3:" not in value and "://gcs:" not in value


def test_every_connection_the_dags_use_is_defined(dag_bag):
    defined = {
        key.removeprefix("AIRFLOW_CONN_").lower()
        for key in sandbox_env.load()
        if key.startswith("AIRFLOW_CONN_")
    }
    used = set()
    for dag in dag_bag.dags.values():
        for name, param in dag.params.items():
            if name.endswith("conn_id") and isinstance(param.value, str) and param.value:
                used.add(param.value)
        for operator in dag.tasks:
            for attribute in dir(operator):
                if attribute.endswith("conn_id") and not attribute.startswith("_"):
                    value = getattr(operator, attribute, None)
                    if isinstance(value, str) and value and "{{" not in value:
                        used.add(value)
    assert used, "no DAG declares a connection: the check would prove nothing"
    assert used <= defined, f"used by DAGs but not defined for the sandbox: {sorted(used - defined)}"


def test_no_secret_in_the_compose_file_lacks_a_sandbox_warning():
    lines = COMPOSE_FILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.search(r"(PASSWORD|FERNET_KEY|JWT_SECRET)\b.*:", line) and not line.strip().startswith("#"):
            window = "\n".join(lines[max(0, number - 3) : number + 1])
            assert "SANDBOX ONLY" in window, f"line {number + 1} sets a secret without a sandbox-only warning"


def _as_json(value):
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return value


# The services compose runs that the twin replaces with something else: PostgreSQL is a private cluster
# (not published), Redis and the Celery worker are replaced by the LocalExecutor, airflow-init by
# start_twin's own set-up (which calls sandbox/init_sandbox.py's scratch database step too). Of the
# monitoring profile the twin runs Prometheus only: Debian packages neither statsd-exporter nor Grafana
# (and the twin's Airflow sends no statsd).
NOT_TWIN_COMPONENTS = {"postgres", "redis", "airflow-worker", "airflow-init", "statsd-exporter", "grafana"}


def test_the_twin_listens_on_the_ports_compose_publishes(compose):
    from twin.stack import COMPOSE_PORTS, plan_ports

    published = {}
    for name, svc in compose["services"].items():
        if svc.get("profiles"):  # not part of a plain `docker compose up`: the twin uses free ports
            continue
        for port in _published(svc):
            _host_ip, host_port, _target = port.split(":")
            published[name] = int(host_port.split("/")[0])
    assert published == COMPOSE_PORTS  # the README's addresses: 8080, 5000, 9023, 8090
    assert plan_ports(8080) == COMPOSE_PORTS
    assert plan_ports(18080) == {**COMPOSE_PORTS, "airflow-apiserver": 18080}
    free = plan_ports(0)  # what the tests use: nothing fixed, nothing shared
    assert free.keys() == COMPOSE_PORTS.keys() and len(set(free.values())) == len(free)


def test_every_compose_service_has_a_twin_component_of_the_same_name(compose):
    from twin.stack import COMPOSE_COMPONENTS

    assert set(compose["services"]) - NOT_TWIN_COMPONENTS == set(COMPOSE_COMPONENTS)


def test_the_twin_runs_the_health_monitor_as_compose_does(compose):
    from twin.stack import HEALTH_INTERVAL, health_monitor_argv

    command = compose["services"]["health-monitor"]["command"]
    heartbeat = command[command.index("--heartbeat-file") + 1]
    twin = health_monitor_argv(
        sandbox_env.COMPOSE_ADDRESSES["airflow-apiserver"], Path(heartbeat), HEALTH_INTERVAL
    )
    assert twin[1:] == command[1:]  # same module, options and interval; only the interpreter differs


MONITORING_SERVICES = {"statsd-exporter", "prometheus", "grafana"}


def test_the_monitoring_profile_adds_exactly_statsd_exporter_prometheus_and_grafana(compose):
    profiled = {name for name, svc in compose["services"].items() if svc.get("profiles")}
    assert profiled == MONITORING_SERVICES
    assert all(compose["services"][name]["profiles"] == ["monitoring"] for name in MONITORING_SERVICES)


def test_the_monitoring_services_load_the_repositorys_rules_mapping_and_dashboard(compose):
    services = compose["services"]

    def mounts(name: str) -> dict[str, str]:
        found = {}
        for volume in services[name].get("volumes", []):
            source, target = (
                (volume.split(":")[:2]) if isinstance(volume, str) else (volume["source"], volume["target"])
            )
            found[target] = (
                str(Path(source).resolve().relative_to(REPO)) if source.startswith(("/", ".")) else source
            )
        return found

    assert mounts("prometheus")["/etc/prometheus"] == "monitoring/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    assert (
        mounts("statsd-exporter")["/etc/statsd/statsd-mapping.yml"] == "monitoring/statsd/statsd-mapping.yml"
    )
    assert "--statsd.mapping-config=/etc/statsd/statsd-mapping.yml" in services["statsd-exporter"]["command"]
    assert mounts("grafana")["/etc/grafana/provisioning"] == "monitoring/grafana/provisioning"
    assert mounts("grafana")["/var/lib/grafana/dashboards"] == "monitoring/grafana/dashboards"


def test_every_monitoring_address_names_a_service_and_port_of_this_file(compose):
    services = compose["services"]
    config = yaml.safe_load((REPO / "monitoring/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"airflow-apiserver:8080", "statsd-exporter:9102"}
    assert "--web.listen-address=:9102" in services["statsd-exporter"]["command"]
    assert any(port.split("/")[0].endswith(":8080") for port in _published(services["airflow-apiserver"]))
    datasource = yaml.safe_load(
        (REPO / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert any(port.split("/")[0].endswith(":9090") for port in _published(services["prometheus"]))
    for name, svc in services.items():
        env = svc.get("environment", {})
        if "AIRFLOW__CORE__EXECUTOR" in env:  # every Airflow component sends statsd to the exporter
            assert env["AIRFLOW__METRICS__STATSD_ON"] == "true", name
            assert env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter", name
            assert (
                "--statsd.listen-udp=:" + env["AIRFLOW__METRICS__STATSD_PORT"]
                in services["statsd-exporter"]["command"]
            )

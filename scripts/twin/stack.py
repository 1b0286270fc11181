"""The Docker-free twin of the docker compose sandbox: the same stack, on loopback, with no containers.

``scripts/sandbox`` runs :func:`main`; the e2e tests start the same :class:`Twin` once per session.
It starts a private PostgreSQL metadata DB, Airflow's api-server, scheduler, dag-processor and triggerer
(LocalExecutor), moto's S3 server, the GCS emulator and the Slack-webhook receiver. Connections come from
``sandbox/airflow.env``, the file docker-compose.yaml loads, with compose service names rewritten to the
twin's loopback ports (:func:`twin.sandbox_env.twin_environment`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from twin import sandbox_env
from twin.client import AirflowClient
from twin.pgcluster import PgCluster, free_port, start_cluster
from twin.services import (
    ServiceProcess,
    create_gcs_bucket,
    create_s3_bucket,
    spawn,
    start_gcs,
    start_moto,
    wait_http,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
UI_USER = "airflow"
UI_PASSWORD = "airflow"  # SANDBOX ONLY, the same login as the compose sandbox
BACKUP_BUCKET = "platform-kit-backups"

# e2e mode only: cron schedules are dropped at parse time so the only runs are the ones a test triggers
# (unpausing a daily DAG would otherwise start a scheduled run next to the test's). Asset schedules stay.
MANUAL_ONLY_POLICY = '''\
"""Installed by the platform-kit twin in e2e mode: only triggered and asset-driven runs happen."""
from airflow.sdk.definitions.timetables.assets import AssetTriggeredTimetable
from airflow.sdk.definitions.timetables.simple import NullTimetable


def dag_policy(dag):
    if not isinstance(dag.timetable, (AssetTriggeredTimetable, NullTimetable)):
        dag.timetable = NullTimetable()
'''


@dataclass
class Twin:
    """A running twin. Create it with :func:`start_twin`; stop it with :meth:`stop`."""

    home: Path
    pg: PgCluster
    api_port: int
    airflow_env: dict[str, str]
    services: list[ServiceProcess] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)
    _client: AirflowClient | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    ui_url = api_url

    @property
    def log_folder(self) -> Path:
        return self.home / "logs"

    @property
    def metadb_dsn(self) -> str:
        """Superuser DSN of the twin's PostgreSQL cluster (its ``airflow`` database)."""
        return self.pg.dsn("airflow")

    @property
    def s3_endpoint(self) -> str:
        return self.endpoints["s3"]

    @property
    def gcs_endpoint(self) -> str:
        return self.endpoints["gcs"]

    @property
    def receiver_url(self) -> str:
        return self.endpoints["slack-receiver"]

    @property
    def client(self) -> AirflowClient:
        if self._client is None:
            self._client = AirflowClient(self.api_url, UI_USER, UI_PASSWORD)
        return self._client

    # The REST helpers the e2e tests use, delegated to the client so the health monitor can share it.
    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.client, name)

    def s3_client(self):
        """A boto3 client for the twin's S3 server, with the sandbox's ``aws_default`` credentials."""
        import boto3

        aws = json.loads(self.airflow_env["AIRFLOW_CONN_AWS_DEFAULT"])
        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name=aws["extra"]["region_name"],
            aws_access_key_id=aws["login"],
            aws_secret_access_key=aws["password"],
        )

    def receiver_messages(self) -> list[dict]:
        return requests.get(f"{self.receiver_url}/messages", timeout=10).json()["messages"]

    def clear_receiver(self) -> None:
        requests.delete(f"{self.receiver_url}/messages", timeout=10)
        requests.post(f"{self.receiver_url}/_control", json={}, timeout=10)

    def airflow_cli(self, *args: str, env: dict[str, str] | None = None, check: bool = True):
        """Run the ``airflow`` CLI against the twin's metadata DB."""
        return subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), *args],
            env={**self.airflow_env, **(env or {})},
            capture_output=True,
            text=True,
            check=check,
        )

    def component(self, name: str) -> ServiceProcess:
        return next(s for s in self.services if s.name == name)

    def restart_component(self, name: str) -> None:
        """Start a stopped Airflow component again (the health-monitor test stops the scheduler)."""
        old = self.component(name)
        old.stop()
        new = spawn_airflow(name, self.airflow_env, self.home / "component-logs")
        self.services[self.services.index(old)] = new

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.pg.stop()


def spawn_airflow(name: str, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    airflow = str(Path(sys.executable).parent / "airflow")
    argv = {
        "api-server": [airflow, "api-server", "--port", env["PLATFORM_KIT_TWIN_API_PORT"]],
        "scheduler": [airflow, "scheduler"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer"],
    }[name]
    return spawn(name, argv, "", log_dir, env=env)


def _airflow_environment(
    home: Path,
    pg: PgCluster,
    api_port: int,
    endpoints: dict[str, str],
    extra_bundles: list[dict],
    manual_only: bool,
) -> dict[str, str]:
    passwords = home / "passwords.json"
    service_account = json.loads(sandbox_env.load()["AIRFLOW_CONN_AIRFLOW_API"])
    passwords.write_text(
        json.dumps({UI_USER: UI_PASSWORD, service_account["login"]: service_account["password"]})
    )
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(home / "dags")},
        },
        {"name": "platform-kit", "classpath": "platform_kit.bundle.PlatformDagBundle", "kwargs": {}},
        *extra_bundles,
    ]
    api_url = f"http://127.0.0.1:{api_port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PG"))},
        **sandbox_env.twin_environment(endpoints),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{pg.port}/airflow"
        ),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin,{service_account['login']}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "15",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(home / "logs" / "dag_processor"),
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
        "PLATFORM_KIT_TWIN_API_PORT": str(api_port),
        "PYTHONUNBUFFERED": "1",
    }
    if manual_only:
        (home / "config").mkdir(exist_ok=True)
        (home / "config" / "airflow_local_settings.py").write_text(MANUAL_ONLY_POLICY)
    return env


def start_twin(
    extra_dag_folders: dict[str, Path] | None = None,
    manual_only: bool = False,
    home: Path | None = None,
    api_port: int | None = None,
    health_timeout: float = 240,
    progress=print,
) -> Twin:
    """Start the whole stack and return when Airflow reports every component healthy.

    :param extra_dag_folders: additional bundles ``{name: folder}`` (the e2e tests add their own DAGs).
    :param manual_only: drop cron schedules (e2e mode), keeping asset schedules.
    :param home: AIRFLOW_HOME to use (a temporary directory by default).
    :param api_port: the api-server/UI port (a free one by default).
    """
    home = home or Path(tempfile.mkdtemp(prefix="platform-kit-twin-"))
    for sub in ("dags", "plugins", "logs", "component-logs"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    log_dir = home / "component-logs"
    api_port = api_port or free_port()
    progress(f"starting PostgreSQL (AIRFLOW_HOME={home})")
    pg = start_cluster()
    twin = Twin(home=home, pg=pg, api_port=api_port, airflow_env={})
    try:
        pg.create_database("airflow", owner="airflow", password="airflow")
        progress("starting S3 (moto), GCS emulator and Slack receiver")
        moto = start_moto(log_dir=log_dir)
        gcs = start_gcs(log_dir=log_dir)
        receiver_port = free_port()
        receiver = spawn(
            "slack-receiver",
            [sys.executable, "-m", "twin.receiver", "--port", str(receiver_port)],
            f"http://127.0.0.1:{receiver_port}",
            log_dir,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "scripts")},
        )
        twin.services += [moto, gcs, receiver]
        wait_http(receiver, "/health")
        twin.endpoints = {
            "postgres": f"127.0.0.1:{pg.port}",
            "s3": moto.url,
            "gcs": gcs.url,
            "slack-receiver": receiver.url,
            "airflow-apiserver": f"http://127.0.0.1:{api_port}",
        }
        create_s3_bucket(moto.url, BACKUP_BUCKET)
        create_gcs_bucket(gcs.url, BACKUP_BUCKET)
        bundles = [
            {
                "name": name,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(path)},
            }
            for name, path in (extra_dag_folders or {}).items()
        ]
        twin.airflow_env = _airflow_environment(home, pg, api_port, twin.endpoints, bundles, manual_only)
        progress("migrating the metadata DB")
        subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
            env=twin.airflow_env,
            check=True,
            capture_output=True,
            text=True,
        )
        progress("starting api-server, scheduler, dag-processor and triggerer")
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            twin.services.append(spawn_airflow(name, twin.airflow_env, log_dir))
        twin.client.wait_healthy(timeout=health_timeout, processes=twin.services)
    except BaseException as exc:
        tails = "".join(
            f"\n--- {s.name} ---\n{s.log_path.read_text(errors='replace')[-3000:]}"
            for s in twin.services
            if s.log_path and s.log_path.exists()
        )
        twin.stop()
        if isinstance(exc, subprocess.CalledProcessError):
            raise RuntimeError(f"{exc.cmd} failed:\n{exc.stderr[-3000:]}{tails}") from exc
        if isinstance(exc, RuntimeError):
            raise RuntimeError(f"{exc}{tails}") from exc
        raise
    return twin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/sandbox",
        description="Start the Docker-free twin of the docker compose sandbox on loopback. Ctrl-C stops it.",
    )
    parser.add_argument("--port", type=int, default=8080, help="UI/API port (default 8080; 0 = any free)")
    parser.add_argument("--home", type=Path, help="keep AIRFLOW_HOME here instead of a temporary folder")
    args = parser.parse_args(argv)

    stop_requested = False

    def request_stop(signum, frame):
        nonlocal stop_requested
        stop_requested = True

    started = time.monotonic()
    twin = start_twin(home=args.home, api_port=args.port or None)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(
        f"\nAirflow twin is up after {time.monotonic() - started:.0f}s\n"
        f"  UI and API      {twin.ui_url}   login {UI_USER} / {UI_PASSWORD} (sandbox only)\n"
        f"  Slack receiver  {twin.receiver_url}/\n"
        f"  S3 (moto)       {twin.s3_endpoint}/moto-api/   bucket {BACKUP_BUCKET}\n"
        f"  GCS emulator    {twin.gcs_endpoint}   bucket {BACKUP_BUCKET}\n"
        f"  Metadata DB     {twin.pg.dsn('airflow').replace(twin.pg.password, '***')}\n"
        f"  AIRFLOW_HOME    {twin.home} (component logs in component-logs/)\n"
        "Press Ctrl-C to stop everything.",
        flush=True,
    )
    try:
        while not stop_requested:
            for service in twin.services:
                if service.proc.poll() is not None:
                    print(f"{service.name} exited with {service.proc.returncode}; stopping", flush=True)
                    stop_requested = True
            time.sleep(1)
    finally:
        print("stopping the twin...", flush=True)
        twin.stop()
        if args.home is None:
            shutil.rmtree(twin.home, ignore_errors=True)
        print("stopped; nothing left running.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Docker-free twin of the docker compose sandbox: the same stack, on loopback, with no containers.

``scripts/sandbox`` runs :func:`main`; the e2e tests start the same :class:`Twin` once per session.
It starts a private PostgreSQL metadata DB (with the scratch database of ``platform_kit_scratch``),
Airflow's api-server, scheduler, dag-processor and triggerer (LocalExecutor), moto's S3 server, the GCS
emulator, the Slack-webhook receiver, the health monitor and, as compose's ``monitoring`` profile does,
Prometheus against the kit's metrics with its alert rules (:mod:`twin.prometheus`; on a free port, since
that profile is not part of a plain ``docker compose up``). Connections come from
``sandbox/airflow.env``, the file docker-compose.yaml loads, with compose service names rewritten to the
twin's loopback ports (:func:`twin.sandbox_env.twin_environment`).

Like compose, it listens on 127.0.0.1 only and, from ``scripts/sandbox``, on compose's published ports
(8080 UI, 5000 S3, 9023 GCS, 8090 receiver); ``--port 0`` picks free ports for everything (tests).
One component can be stopped and started while the rest runs (:mod:`twin.control`).

Every component is started by a *recipe* registered with :meth:`Twin.add`, which is also how the control
command starts it again; a new service joins the twin by registering its recipe in :func:`start_twin`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from twin import remote_logs, sandbox_env
from twin.client import AirflowClient
from twin.control import ControlServer
from twin.loopback import LOOPBACK
from twin.matrix import find_env, lock_env
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
#: A user who may log in but has no role, so may read no DAG (the Platform page must refuse them).
NO_ROLE_USER = "outsider"
NO_ROLE_PASSWORD = "outsider-sandbox"  # SANDBOX ONLY
BACKUP_BUCKET = "platform-kit-backups"
SCRATCH_CONN_VAR = "AIRFLOW_CONN_PLATFORM_KIT_SCRATCH"
#: Seconds between the health monitor's polls (compose's health-monitor runs with the same).
HEALTH_INTERVAL = 10

#: compose service -> the twin component doing the same job; ``scripts/sandbox stop|start`` takes either.
COMPOSE_COMPONENTS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "s3": "s3",
    "gcs": "gcs",
    "slack-receiver": "slack-receiver",
    "health-monitor": "health-monitor",
    "prometheus": "prometheus",  # compose's monitoring profile
}
#: The host ports compose publishes, which are the twin's defaults (a unit test checks they match).
COMPOSE_PORTS = {"airflow-apiserver": 8080, "s3": 5000, "gcs": 9023, "slack-receiver": 8090}

# e2e mode only: cron schedules are dropped at parse time so the only runs are the ones a test triggers
# (unpausing a daily DAG would otherwise start a scheduled run next to the test's). Asset schedules stay.
# The log cleanup keeps one scheduled run: a yearly schedule, so unpausing it starts exactly the run
# "Unpause on trigger" starts in the README walkthrough (due on 1 January), and no other in a session.
MANUAL_ONLY_POLICY = '''\
"""Installed by the platform-kit twin in e2e mode: only triggered and asset-driven runs happen."""
from platform_kit.version_compat import manual_only_timetables


def dag_policy(dag):
    timetables = manual_only_timetables()
    if dag.dag_id == "platform_kit_log_cleanup":
        dag.timetable = timetables.cron("@yearly", timezone="UTC")
    elif not isinstance(dag.timetable, timetables.kept):
        dag.timetable = timetables.null()
'''


class PortInUseError(RuntimeError):
    """A fixed port the twin needs is taken."""


def plan_ports(ui_port: int) -> dict[str, int]:
    """Ports of the published services: compose's, with ``ui_port`` for the UI; ``0`` = all free ones."""
    if ui_port == 0:
        return {name: free_port() for name in COMPOSE_PORTS}
    return {**COMPOSE_PORTS, "airflow-apiserver": ui_port}


def check_ports_free(ports: dict[str, int]) -> None:
    """Fail in one line, before anything starts, when a port is taken (e.g. by another sandbox)."""
    for name, port in ports.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers themselves bind
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                raise PortInUseError(
                    f"port {port} ({name}) is already in use on {LOOPBACK}: stop what listens there "
                    "(another sandbox?) or start with --port 0 to use free ports"
                ) from None


def fernet_key_for(home: Path) -> str:
    """The twin's ``[core] fernet_key``: ``FERNET_KEY`` from the environment (as compose reads it), else
    the key kept in ``<home>/fernet.key``, else a new key written there (so ``--home`` keeps it)."""
    if os.environ.get("FERNET_KEY"):
        return os.environ["FERNET_KEY"]
    path = home / "fernet.key"
    if path.is_file():
        return path.read_text().strip()
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def fernet_fingerprint(key: str) -> str:
    """SHA-256 of the key, as backup manifests record it (``fernet_key.fingerprints``)."""
    return hashlib.sha256(key.encode()).hexdigest()


def health_monitor_argv(api_url: str, heartbeat_file: Path, interval: float) -> list[str]:
    """The health monitor's command: compose's ``health-monitor`` service, with the twin's addresses."""
    return [
        sys.executable,
        "-m",
        "platform_kit",
        "health",
        "watch",
        "--api-url",
        api_url,
        "--slack-conn-id",
        "slack_default",
        "--heartbeat-file",
        str(heartbeat_file),
        "--interval",
        f"{interval:g}",
    ]


def _load_init_sandbox():
    """``sandbox/init_sandbox.py``, the set-up compose's airflow-init runs (not a package: load by path)."""
    spec = importlib.util.spec_from_file_location("init_sandbox", REPO_ROOT / "sandbox" / "init_sandbox.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Twin:
    """A running twin. Create it with :func:`start_twin`; stop it with :meth:`stop`."""

    home: Path
    pg: PgCluster
    api_port: int
    airflow_env: dict[str, str]
    airflow_bin: Path = field(default_factory=lambda: Path(sys.executable).parent / "airflow")
    services: list[ServiceProcess] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)
    fernet_key: str = ""
    recipes: dict[str, Callable[[], ServiceProcess]] = field(default_factory=dict)
    #: Components stopped on purpose (or found dead): not running, and not a reason to stop the twin.
    stopped: set[str] = field(default_factory=set)
    control: ControlServer | None = None
    _client: AirflowClient | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    ui_url = api_url

    @property
    def log_folder(self) -> Path:
        return self.home / "logs"

    @property
    def component_logs(self) -> Path:
        return self.home / "component-logs"

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
    def prometheus_url(self) -> str:
        """The twin's Prometheus (``KeyError`` when it is not installed)."""
        return self.endpoints["prometheus"]

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
            [str(self.airflow_bin), *args],
            env={**self.airflow_env, **(env or {})},
            capture_output=True,
            text=True,
            check=check,
        )

    def cli_environment(self) -> dict[str, str]:
        """What a shell needs to run ``platform-kit`` against this twin: its connections and variables."""
        return {k: v for k, v in self.airflow_env.items() if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}

    # --- components -------------------------------------------------------------------------------------

    def add(self, name: str, recipe: Callable[[], ServiceProcess]) -> ServiceProcess:
        """Start a component with ``recipe`` and remember it, so it can be started again by name."""
        service = recipe()
        with self._lock:
            self.recipes[name] = recipe
            self.services.append(service)
        return service

    def resolve(self, name: str) -> str:
        """A component's twin name from its twin or compose name (``airflow-scheduler`` -> ``scheduler``)."""
        name = COMPOSE_COMPONENTS.get(name, name)
        if name not in self.recipes:
            raise KeyError(f"no component {name!r}; the twin has {', '.join(self.recipes)}")
        return name

    def component(self, name: str) -> ServiceProcess:
        name = self.resolve(name)
        with self._lock:
            return next(s for s in reversed(self.services) if s.name == name)

    def stop_component(self, name: str) -> str:
        """Stop one component (like ``docker compose stop``); the rest keeps running."""
        name = self.resolve(name)
        with self._lock:
            service = self.component(name)
            if name in self.stopped or service.proc.poll() is not None:
                self.stopped.add(name)
                return f"{name} is not running"
            service.stop()
            self.stopped.add(name)
        return f"{name} stopped"

    def start_component(self, name: str) -> str:
        """Start a stopped component again (like ``docker compose start``)."""
        name = self.resolve(name)
        with self._lock:
            old = self.component(name)
            if old.proc.poll() is None:
                return f"{name} is already running (pid {old.proc.pid})"
            new = self.recipes[name]()
            self.services[self.services.index(old)] = new
            self.stopped.discard(name)
        return f"{name} started (pid {new.proc.pid})"

    def restart_component(self, name: str) -> str:
        self.stop_component(name)
        return self.start_component(name)

    def status(self) -> list[dict]:
        with self._lock:
            latest = {s.name: s for s in self.services}
        return [
            {
                "name": name,
                "state": "running" if service.proc.poll() is None else "stopped",
                "pid": service.proc.pid if service.proc.poll() is None else None,
                "url": service.url,
            }
            for name, service in latest.items()
        ]

    def reap(self) -> list[tuple[str, int]]:
        """Components that exited without being asked to (each reported once), with their exit codes."""
        with self._lock:
            dead = [
                (s.name, s.proc.returncode)
                for s in {s.name: s for s in self.services}.values()
                if s.name not in self.stopped and s.proc.poll() is not None
            ]
            self.stopped.update(name for name, _ in dead)
        return dead

    def handle_control(self, request: dict) -> dict:
        """One control request (see :mod:`twin.control`)."""
        action, name = request.get("action"), request.get("component")
        try:
            if action == "status":
                return {"ok": True, "components": self.status()}
            handler = {
                "stop": self.stop_component,
                "start": self.start_component,
                "restart": self.restart_component,
            }.get(action)
            if handler is None:
                return {"ok": False, "message": f"unknown action {action!r}"}
            return {"ok": True, "message": handler(name)}
        except KeyError as exc:
            return {"ok": False, "message": str(exc.args[0])}

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
        with self._lock:
            for service in reversed(self.services):
                service.terminate()  # all at once: Airflow's components each take seconds to shut down
            for service in reversed(self.services):
                service.stop()
        self.pg.stop()


def _airflow_environment(
    home: Path,
    pg: PgCluster,
    api_port: int,
    endpoints: dict[str, str],
    extra_bundles: list[dict],
    manual_only: bool,
    fernet_key: str,
    log_server_port: int,
) -> dict[str, str]:
    passwords = home / "passwords.json"
    service_account = json.loads(sandbox_env.load()["AIRFLOW_CONN_AIRFLOW_API"])
    passwords.write_text(
        json.dumps(
            {
                UI_USER: UI_PASSWORD,
                service_account["login"]: service_account["password"],
                NO_ROLE_USER: NO_ROLE_PASSWORD,
            }
        )
    )
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(home / "dags")},
        },
        # The README walkthrough triggers an example DAG (step 4): the sandbox serves examples too.
        {
            "name": "platform-kit",
            "classpath": "platform_kit.bundle.PlatformDagBundle",
            "kwargs": {"include": "all"},
        },
        *extra_bundles,
    ]
    api_url = f"http://{LOOPBACK}:{api_port}"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PG"))}
    scripts = str(REPO_ROOT / "scripts")
    env = {
        **inherited,
        **sandbox_env.twin_environment(endpoints),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://airflow:airflow@{LOOPBACK}:{pg.port}/airflow"
        ),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": (
            f"{UI_USER}:admin,{service_account['login']}:admin,{NO_ROLE_USER}:"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        # Every listener on loopback: the api-server, the scheduler's health port and the task-log server
        # (twin.loopback), which tasks name as their host.
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "twin.loopback.hostname",
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "15",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": LOOPBACK,
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(home / "logs" / "dag_processor"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_server_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_server_port),
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
        "PYTHONPATH": os.pathsep.join(p for p in (scripts, inherited.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
    }
    if manual_only:
        (home / "config").mkdir(exist_ok=True)
        (home / "config" / "airflow_local_settings.py").write_text(MANUAL_ONLY_POLICY)
    return env


def _airflow_recipe(twin: Twin, name: str) -> Callable[[], ServiceProcess]:
    airflow = str(twin.airflow_bin)
    argv = {
        "api-server": [airflow, "api-server", "--host", LOOPBACK, "--port", str(twin.api_port)],
        # Their own log servers would listen on every interface: twin.loopback serves the logs instead.
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
    }[name]
    url = twin.api_url if name == "api-server" else ""
    return lambda: spawn(name, argv, url, twin.component_logs, env=twin.airflow_env)


def start_twin(
    extra_dag_folders: dict[str, Path] | None = None,
    manual_only: bool = False,
    home: Path | None = None,
    ports: dict[str, int] | None = None,
    health_interval: float = HEALTH_INTERVAL,
    health_timeout: float = 240,
    progress=print,
    python: Path | None = None,
) -> Twin:
    """Start the whole stack and return when Airflow reports every component healthy.

    :param extra_dag_folders: additional bundles ``{name: folder}`` (the e2e tests add their own DAGs).
    :param manual_only: drop cron schedules (e2e mode), keeping asset schedules.
    :param home: AIRFLOW_HOME to use (a temporary directory by default). Its ``fernet.key`` is reused.
    :param ports: ports of the published services (:func:`plan_ports`); free ones by default.
    :param health_interval: seconds between the health monitor's polls (tests shorten it).
    :param python: the interpreter of the environment whose Airflow runs (this one by default), e.g. a
        matrix environment's ``matrix/airflow-3.1/.venv/bin/python``; the emulators, the receiver and the
        health monitor run here.
    """
    home = home or Path(tempfile.mkdtemp(prefix="platform-kit-twin-"))
    for sub in ("dags", "plugins", "logs", "component-logs"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    log_dir = home / "component-logs"
    ports = ports or plan_ports(0)
    check_ports_free(ports)
    progress(f"starting PostgreSQL (AIRFLOW_HOME={home})")
    pg = start_cluster()
    twin = Twin(home=home, pg=pg, api_port=ports["airflow-apiserver"], airflow_env={})
    if python is not None:
        twin.airflow_bin = Path(python).parent / "airflow"
    try:
        pg.create_database("airflow", owner="airflow", password="airflow")
        progress("starting S3 (moto), GCS emulator and Slack receiver")
        s3 = twin.add("s3", lambda: start_moto(ports["s3"], log_dir, name="s3"))
        gcs = twin.add("gcs", lambda: start_gcs(ports["gcs"], log_dir, name="gcs"))

        def receiver() -> ServiceProcess:
            port = ports["slack-receiver"]
            service = spawn(
                "slack-receiver",
                [sys.executable, "-m", "twin.receiver", "--host", LOOPBACK, "--port", str(port)],
                f"http://{LOOPBACK}:{port}",
                log_dir,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "scripts")},
            )
            wait_http(service, "/health")
            return service

        slack = twin.add("slack-receiver", receiver)
        twin.endpoints = {
            "postgres": f"{LOOPBACK}:{pg.port}",
            "s3": s3.url,
            "gcs": gcs.url,
            "slack-receiver": slack.url,
            "airflow-apiserver": twin.api_url,
        }
        create_s3_bucket(s3.url, BACKUP_BUCKET)
        create_gcs_bucket(gcs.url, BACKUP_BUCKET)
        remote_logs.create_log_bucket(s3.url)
        bundles = [
            {
                "name": name,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(path)},
            }
            for name, path in (extra_dag_folders or {}).items()
        ]
        twin.fernet_key = fernet_key_for(home)
        log_server_port = free_port()
        twin.airflow_env = _airflow_environment(
            home, pg, twin.api_port, twin.endpoints, bundles, manual_only, twin.fernet_key, log_server_port
        )
        # The same set-up compose's airflow-init runs; here the cluster's superuser creates the role.
        superuser = {"host": pg.host, "port": pg.port, "login": pg.user, "password": pg.password}
        _load_init_sandbox().create_scratch_database(
            {**superuser, "schema": "postgres"}, json.loads(twin.airflow_env[SCRATCH_CONN_VAR])
        )
        progress("migrating the metadata DB")
        subprocess.run(
            [str(twin.airflow_bin), "db", "migrate"],
            env=twin.airflow_env,
            check=True,
            capture_output=True,
            text=True,
        )
        progress("starting api-server, scheduler, dag-processor and triggerer")
        twin.add(
            "log-server",
            lambda: spawn(
                "log-server",
                # Airflow's own log-server app, so from the environment whose Airflow runs.
                [
                    str(twin.airflow_bin.parent / "python"),
                    "-m",
                    "twin.loopback",
                    "--port",
                    str(log_server_port),
                ],
                f"http://{LOOPBACK}:{log_server_port}",
                log_dir,
                env=twin.airflow_env,
            ),
        )
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            twin.add(name, _airflow_recipe(twin, name))
        twin.client.wait_healthy(timeout=health_timeout, processes=twin.services)
        heartbeat = home / "health-monitor.heartbeat"
        monitor = health_monitor_argv(twin.api_url, heartbeat, health_interval)
        twin.add(
            "health-monitor", lambda: spawn("health-monitor", monitor, "", log_dir, env=twin.airflow_env)
        )
        _add_prometheus(twin, log_dir, progress)
        twin.control = ControlServer(
            home, twin.handle_control, {"ui": twin.ui_url, "endpoints": twin.endpoints}
        ).start()
    except BaseException as exc:
        tails = "".join(
            f"\n--- {s.name} ---\n{s.log_path.read_text(errors='replace')[-3000:]}"
            for s in twin.services
            if s.log_path and s.log_path.exists()
        )
        twin.stop()
        if isinstance(exc, subprocess.CalledProcessError):
            raise RuntimeError(f"{exc.cmd} failed:\n{exc.stderr[-3000:]}{tails}") from exc
        if isinstance(exc, RuntimeError) and not isinstance(exc, PortInUseError):
            raise RuntimeError(f"{exc}{tails}") from exc
        raise
    return twin


def _add_prometheus(twin: Twin, log_dir: Path, progress) -> None:
    """Prometheus against the kit's metrics endpoint, as compose's ``monitoring`` profile runs it."""
    from twin import prometheus

    if not prometheus.installed():
        progress("prometheus is not installed (scripts/bootstrap installs it): the twin runs without it")
        return
    port = free_port()
    service = twin.add(
        "prometheus", lambda: prometheus.start_prometheus(twin.home, twin.api_url, port, log_dir)
    )
    twin.endpoints["prometheus"] = service.url


def write_cli_env(twin: Twin) -> Path:
    """``<home>/cli.env``: ``export`` lines a shell can ``source`` to use the CLI against the twin."""
    path = twin.home / "cli.env"
    lines = [f"export {key}={shlex.quote(value)}" for key, value in twin.cli_environment().items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def banner(twin: Twin, started: float, keep_home: bool, airflow: str) -> str:
    """What ``scripts/sandbox`` prints once the twin is up."""
    pid = os.getpid()
    metadb = json.loads(twin.airflow_env["AIRFLOW_CONN_AIRFLOW_METADB"])
    fingerprint = fernet_fingerprint(twin.fernet_key)
    kept = (
        f"kept in {twin.home / 'fernet.key'}"
        if keep_home
        else "deleted with the temporary home when the twin stops; start with --home DIR to keep it"
    )
    cli_env = write_cli_env(twin)
    exports = "\n".join(f"  export {k}={shlex.quote(v)}" for k, v in twin.cli_environment().items())
    return (
        f"\nAirflow {airflow} twin is up after {time.monotonic() - started:.0f}s, PID {pid}\n"
        f"  UI and API      {twin.ui_url}   login {UI_USER} / {UI_PASSWORD} (sandbox only)\n"
        f"  Slack receiver  {twin.receiver_url}/\n"
        f"  S3 (moto)       {twin.s3_endpoint}/moto-api/   bucket {BACKUP_BUCKET}\n"
        f"  Task logs       {remote_logs.folder_url()} (remote logging; not kept locally)\n"
        f"  GCS emulator    {twin.gcs_endpoint}   bucket {BACKUP_BUCKET}\n"
        f"  Platform page   {twin.ui_url}/platform-kit/   metrics {twin.ui_url}/platform-kit/metrics\n"
        f"  Prometheus      {twin.endpoints.get('prometheus', 'not installed (run scripts/bootstrap)')}"
        "   the kit's alert rules, waits shortened\n"
        f"  Metadata DB     postgresql://{metadb['login']}:***@{LOOPBACK}:{twin.pg.port}/{metadb['schema']}"
        "   (connection airflow_metadb)\n"
        "  Scratch DB      connection platform_kit_scratch (its role has CREATEDB): restore tests, "
        "backup restore\n"
        "  Health monitor  posts to the Slack receiver when a component turns unhealthy or recovers, and\n"
        "                  when no fresh verified backup is in the bucket (and when one arrives)\n"
        f"  Fernet key      {twin.fernet_key}   sha256 {fingerprint[:16]}…, {kept}\n"
        f"  AIRFLOW_HOME    {twin.home} (component logs in component-logs/)\n"
        "\nStop or start one component (the README's health step), from another terminal:\n"
        "  scripts/sandbox stop scheduler   scripts/sandbox start scheduler   scripts/sandbox status\n"
        f"\nUse the platform-kit CLI against this twin: paste these lines (or `source {cli_env}`):\n"
        f"{exports}\n"
        f"\nPress Ctrl-C (or kill -INT/-TERM {pid}) to stop everything."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/sandbox",
        description="Start the Docker-free twin of the docker compose sandbox on loopback. Ctrl-C stops it. "
        "`scripts/sandbox stop|start|status [COMPONENT]` controls a running twin.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=COMPOSE_PORTS["airflow-apiserver"],
        help="UI/API port (default 8080; S3, GCS and the receiver use compose's 5000, 9023 and 8090); "
        "0 = free ports for everything",
    )
    parser.add_argument("--home", type=Path, help="keep AIRFLOW_HOME (and the Fernet key) in this folder")
    parser.add_argument(
        "--airflow",
        metavar="VERSION",
        help=f"a supported Airflow version or minor, e.g. 3.2.2 (default: {lock_env().airflow}, the lock)",
    )
    args = parser.parse_args(argv)
    env = lock_env()
    if args.airflow:
        try:
            env = find_env(args.airflow)
        except ValueError as exc:
            parser.error(str(exc))
    if not env.installed:
        parser.error(f"{env.python} is missing; run scripts/bootstrap")

    stop_requested = threading.Event()

    def request_stop(signum, frame):
        if not started_up:
            raise KeyboardInterrupt  # during start-up: unwind through start_twin's clean-up
        stop_requested.set()

    started_up = False
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    started = time.monotonic()
    try:
        twin = start_twin(
            home=args.home.resolve() if args.home else None,
            ports=plan_ports(args.port),
            python=None if env.is_lock else env.python,
        )
    except PortInUseError as exc:
        print(f"scripts/sandbox: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted during start-up; everything started so far was stopped.", flush=True)
        return 130
    started_up = True
    try:
        print(banner(twin, started, keep_home=args.home is not None, airflow=env.airflow), flush=True)
        while not stop_requested.wait(1):
            for name, code in twin.reap():
                print(
                    f"{name} exited with code {code}; start it again with scripts/sandbox start {name}",
                    flush=True,
                )
    finally:
        print("stopping the twin...", flush=True)
        twin.stop()
        if args.home is None:
            shutil.rmtree(twin.home, ignore_errors=True)
        print("stopped; nothing left running.", flush=True)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

"""A throwaway PostgreSQL cluster on loopback, for tests and the twin.

PostgreSQL refuses to run as root, so when we are root the server runs as the ``postgres`` system user
(``runuser``) inside a directory handed over to it; as a normal user it runs as ourselves. The cluster
listens on 127.0.0.1 on a free port and is removed on :meth:`PgCluster.stop`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_bin_dir() -> Path:
    """The newest installed server's bin directory (Debian keeps ``initdb`` off PATH)."""
    override = os.environ.get("PLATFORM_KIT_PG_BIN")
    if override:
        return Path(override)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found: install the 'postgresql' package "
        "(scripts/bootstrap does this) or set PLATFORM_KIT_PG_BIN to the directory holding initdb."
    )


@dataclass
class PgCluster:
    """A running private cluster. Use :func:`start_cluster` to make one."""

    root: Path
    port: int
    password: str
    bin_dir: Path
    _as_postgres: bool = field(repr=False, default=False)

    host = "127.0.0.1"
    user = SUPERUSER

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def env(self, database: str = "postgres") -> dict[str, str]:
        """libpq variables that make ``psql``/``pg_dump`` reach this cluster."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": database,
        }

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            env={**os.environ, **self.env(database)},
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def create_database(
        self, name: str, owner: str | None = None, password: str | None = None, template: str | None = None
    ) -> str:
        """Create a database (and its owner role when given); returns its DSN.

        :param template: copy this database (``CREATE DATABASE ... TEMPLATE``: a file copy, seconds for a
            migrated Airflow schema); nobody may be connected to it meanwhile.
        """
        copy = f' TEMPLATE "{template}"' if template else ""
        if owner:
            self.psql(f"CREATE ROLE \"{owner}\" LOGIN PASSWORD '{password}'")
            self.psql(f'CREATE DATABASE "{name}" OWNER "{owner}"{copy}')
            return f"postgresql://{owner}:{password}@{self.host}:{self.port}/{name}"
        self.psql(f'CREATE DATABASE "{name}"{copy}')
        return self.dsn(name)

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        argv = ["runuser", "-u", "postgres", "--", *cmd] if self._as_postgres else list(cmd)
        return subprocess.run(argv, check=True, capture_output=True, text=True)

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
            except subprocess.CalledProcessError:
                self._run(
                    str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"
                )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(port: int | None = None, settings: dict[str, str] | None = None) -> PgCluster:
    """Initialise and start a cluster; the caller must :meth:`PgCluster.stop` it."""
    bin_dir = server_bin_dir()
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="platform-kit-pg-"))
    password = os.urandom(12).hex()
    cluster = PgCluster(
        root=root, port=port or free_port(), password=password, bin_dir=bin_dir, _as_postgres=as_postgres
    )
    pwfile = root / "pwfile"
    pwfile.write_text(password)
    if as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    root.chmod(0o700)
    try:
        cluster._run(
            str(bin_dir / "initdb"),
            "-D",
            str(cluster.data_dir),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(cluster.port),
            "unix_socket_directories": str(root),
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **(settings or {}),
        }
        opt_string = " ".join(f"-c {key}={value}" for key, value in options.items())
        cluster._run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(cluster.data_dir),
            "-l",
            str(root / "server.log"),
            "-w",
            "-o",
            opt_string,
            "start",
        )
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        cluster.stop()
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr or exc.stdout}\n{log[-2000:]}") from exc
    return cluster

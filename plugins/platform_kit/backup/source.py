"""Where a database is: connection parameters for libpq tools (via ``PG*`` env) and for psycopg.

The password only ever travels in the environment of the child process or in psycopg's keyword
arguments, never on a command line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from platform_kit.connections import POSTGRES_CONN_TYPES, get_connection
from platform_kit.exceptions import BackupError
from platform_kit.utils import one_line

# libpq keyword -> environment variable (libpq's "Environment Variables" list). Parameters from a DSN or a
# connection reach pg_dump/pg_restore through these; psycopg gets the same keywords as arguments.
_ENV_NAMES = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "require_auth": "PGREQUIREAUTH",
    "channel_binding": "PGCHANNELBINDING",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "gssdelegation": "PGGSSDELEGATION",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}


@dataclass(frozen=True)
class PgTarget:
    """Connection parameters (libpq keywords) for one database."""

    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def dbname(self) -> str:
        return self.params.get("dbname", "")

    def with_database(self, dbname: str) -> PgTarget:
        """The same server and credentials, another database."""
        return PgTarget({**self.params, "dbname": dbname})

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment for ``pg_dump``/``pg_restore``: ``base`` (default ``os.environ``) with our
        parameters on top.

        Inherited libpq variables fill in what the DSN or connection leaves out, exactly as they do for
        the psycopg connection in this process: ``PGPASSWORD``, ``PGPASSFILE``, ``PGSSLMODE``,
        ``PGSSLROOTCERT``... So ``PGPASSWORD=... platform-kit backup create --dsn postgresql://u@h/db``
        dumps with that password, which never appears on a command line.
        """
        env = dict(os.environ if base is None else base)
        env.update({_ENV_NAMES[k]: str(v) for k, v in self.params.items() if k in _ENV_NAMES})
        env.setdefault("PGCONNECT_TIMEOUT", "10")
        return env

    def describe(self) -> str:
        """``user@host:port/db`` - safe to log (no password)."""
        p = self.params
        where = f"{p.get('host', 'localhost')}:{p.get('port', '5432')}"
        return f"{p.get('user', '?')}@{where}/{p.get('dbname', '?')}"

    @contextmanager
    def connect(self, *, autocommit: bool = True) -> Iterator[Any]:
        """A psycopg (3) connection; connection failures become a one-line :class:`BackupError`."""
        import psycopg

        kwargs = {k: v for k, v in self.params.items() if k in _ENV_NAMES}
        kwargs.setdefault("connect_timeout", os.environ.get("PGCONNECT_TIMEOUT", "10"))
        try:
            conn = psycopg.connect(autocommit=autocommit, **kwargs)
        except psycopg.OperationalError as exc:
            reason = re.sub(r"^connection failed: ", "", one_line(exc))
            raise BackupError(
                f"cannot connect to {self.describe()} ({reason}); check the host, port, user and password "
                "of the connection or DSN"
            ) from exc
        try:
            yield conn
        finally:
            conn.close()


def target_from_dsn(dsn: str) -> PgTarget:
    """Parse a ``postgresql://`` URL or a ``key=value`` DSN."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except Exception as exc:
        raise BackupError(
            "could not parse the DSN; use postgresql://user:password@host:port/dbname"
        ) from exc  # the DSN itself may hold a password, so it is not echoed
    if not params.get("dbname"):
        raise BackupError("the DSN names no database; use postgresql://user:password@host:port/dbname")
    return PgTarget({k: str(v) for k, v in params.items() if v is not None})


def target_from_connection(conn_id: str) -> PgTarget:
    """Connection parameters from an Airflow connection of type ``postgres``.

    Never uses Airflow's own ``[database]`` settings: inside a task they hold a sentinel URL.
    """
    conn = get_connection(conn_id, POSTGRES_CONN_TYPES, purpose="database")
    if not conn.host or not conn.schema:
        raise BackupError(
            f"connection {conn_id!r} needs a host and a schema (the database name); edit the connection"
        )
    params: dict[str, str] = {"host": conn.host, "dbname": conn.schema, "port": str(conn.port or 5432)}
    if conn.login:
        params["user"] = conn.login
    if conn.password:
        params["password"] = conn.password
    for key, value in (conn.extra_dejson or {}).items():
        if key in _ENV_NAMES and key not in params and value not in (None, ""):
            params[key] = str(value)
    return PgTarget(params)

"""SQLAlchemy URLs for the metadata DB, built from the dedicated Airflow Connection (``airflow_metadb``).

Inside a task Airflow's own ``[database] sql_alchemy_conn`` is a sentinel, so every DAG that needs the
metadata DB (backup, DB cleanup, export in db mode) builds its URL here from that Connection, the same way.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from platform_kit.connections import POSTGRES_CONN_TYPES
from platform_kit.exceptions import ConfigurationError

#: Environment variable a shell can hold the metadata DB's URL in, instead of a Connection. Safer than a
#: ``--dsn`` option, which every user sees in ``ps``.
DSN_ENV = "PLATFORM_KIT_METADB_DSN"

# libpq options worth carrying from a connection's extra into the SQLAlchemy URL.
_LIBPQ_EXTRAS = (
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "connect_timeout",
    "application_name",
    "options",
)


def sqlalchemy_url(
    *,
    host: str,
    login: str | None,
    password: str | None,
    schema: str | None,
    port: int | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A ``postgresql+psycopg2://`` URL (the dialect Airflow's own engine uses) from connection fields.

    :param host: database host.
    :param login: role name.
    :param password: role password (percent-encoded into the URL).
    :param schema: database name (Airflow connections call it "schema").
    :param port: defaults to 5432.
    :param extra: connection extra; libpq options such as ``sslmode`` are carried over.
    """
    if not host or not schema:
        raise ConfigurationError("the metadata DB connection needs a host and a database name (schema)")
    auth = quote(login or "", safe="")
    if password:
        auth += ":" + quote(password, safe="")
    query = "&".join(
        f"{key}={quote(str(value), safe='')}"
        for key, value in sorted((extra or {}).items())
        if key in _LIBPQ_EXTRAS and value not in (None, "")
    )
    url = f"postgresql+psycopg2://{auth}@{host}:{int(port or 5432)}/{quote(schema, safe='')}"
    return f"{url}?{query}" if query else url


def url_from_dsn(dsn: str) -> str:
    """Normalise a ``postgres://``/``postgresql[+driver]://`` DSN to the psycopg2 dialect."""
    parts = urlsplit(dsn)
    if not parts.scheme.startswith("postgres"):
        raise ConfigurationError("the DSN must be a PostgreSQL URL (postgresql://user:password@host:port/db)")
    return "postgresql+psycopg2" + dsn[len(parts.scheme) :]


def url_from_connection(conn: Any) -> str:
    """The URL for an Airflow ``Connection`` (conn type postgres), e.g. ``airflow_metadb``."""
    if conn.conn_type not in POSTGRES_CONN_TYPES:
        name = getattr(conn, "conn_id", None) or "the metadata DB connection"
        raise ConfigurationError(f"connection {name!r} has conn_type {conn.conn_type!r}; expected postgres")
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    return sqlalchemy_url(
        host=conn.host,
        login=conn.login,
        password=conn.password,
        schema=conn.schema,
        port=conn.port,
        extra=extra,
    )


def secrets_of(url: str) -> list[str]:
    """Strings that must never be printed: the URL itself and its (decoded and encoded) password."""
    encoded = urlsplit(url).netloc.rpartition("@")[0].partition(":")[2]
    found = {url, encoded, unquote(encoded)} - {""}
    return sorted(found, key=len, reverse=True)


def metadb_url(conn_id: str, *, dsn: str | None = None, purpose: str = "metadata DB", hint: str = "") -> str:
    """The metadata DB's URL: from ``dsn`` when given, else from Connection ``conn_id`` (conn type postgres).

    :param conn_id: the dedicated Connection, e.g. ``airflow_metadb``; looked up with
        :func:`platform_kit.connections.get_connection`.
    :param dsn: a ``postgresql://`` URL that takes precedence (the CLI's ``--dsn`` or :data:`DSN_ENV`).
    :param purpose: what the DB is needed for, named when the Connection is missing.
    :param hint: what to do when the Connection is missing, instead of the generic advice.
    """
    if dsn:
        return url_from_dsn(dsn)
    from platform_kit.connections import get_connection

    return url_from_connection(get_connection(conn_id, POSTGRES_CONN_TYPES, purpose=purpose, hint=hint))


def task_metadb_url(conn_id: str, *, purpose: str = "metadata DB", hint: str = "") -> str:
    """:func:`metadb_url` for a task: the URL and its password are registered with Airflow's secrets
    masker first, so neither can reach the task log.

    :param conn_id: the dedicated Connection (the DAG's ``metadb_conn_id`` Param).
    :param purpose: what the DB is needed for, named when the Connection is missing.
    :param hint: what to do when the Connection is missing, instead of the generic advice.
    """
    from platform_kit.version_compat import mask_secret

    url = metadb_url(conn_id, purpose=purpose, hint=hint)
    for secret in secrets_of(url):
        mask_secret(secret)
    return url


def dsn_from_environment() -> str | None:
    """The URL in :data:`DSN_ENV`, if this shell set one."""
    return os.environ.get(DSN_ENV) or None

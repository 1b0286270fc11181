"""The one way the kit looks an Airflow Connection up, in tasks and in the shell alike.

:func:`get_connection` searches what the running process can see, in Airflow's own order:

1. environment variables (``AIRFLOW_CONN_<ID>``) and the configured secrets backends;
2. the metadata DB: in a task through the Execution API (the Task SDK does this), and in a shell on an
   Airflow host directly, when this process is configured with a real metadata DB (``airflow connections
   get`` sees the same). A shell without Airflow's configuration never touches a database.

:func:`aget_connection` is the same lookup for code on an event loop (the triggerer).

"Not found" is recognised by exception type, never by name. A connection that exists with another type
is an error that names both types.
"""

from __future__ import annotations

import logging
from typing import Any

from platform_kit.exceptions import ConnectionLookupError
from platform_kit.utils import one_line

log = logging.getLogger(__name__)

#: Connection types of each kind of connection the kit uses; the first is the one named in errors.
POSTGRES_CONN_TYPES = ("postgres", "postgresql")
AWS_CONN_TYPES = ("aws", "s3")
GOOGLE_CONN_TYPES = ("google_cloud_platform", "gcpssh")

_NOT_ALLOWED = "airflow-db-not-allowed"


def metadata_db_configured() -> bool:
    """True when this process may read the metadata DB itself: outside a task, with a real DB URL.

    A default SQLite URL whose file does not exist counts as "no DB": connecting would create it.
    """
    from platform_kit.version_compat import airflow_conf, in_task_process

    if in_task_process():
        return False
    try:
        url = airflow_conf().get("database", "sql_alchemy_conn", fallback="") or ""
    except Exception:
        return False
    if not url or url.startswith(_NOT_ALLOWED):
        return False
    if url.startswith("sqlite"):
        from pathlib import Path

        path = url.split(":///", 1)[-1].split("?", 1)[0]
        return bool(path) and Path(path).is_file()
    return True


def _lookup(conn_id: str) -> tuple[Any | None, str | None]:
    """(connection, why the metadata DB could not be asked) for ``conn_id``."""
    from airflow.sdk import Connection

    from platform_kit.version_compat import metastore_connection, not_found_errors

    try:
        return Connection.get(conn_id), None
    except not_found_errors():
        pass
    except Exception as exc:
        raise _unreadable(conn_id, exc) from None
    if not metadata_db_configured():
        return None, None
    try:
        return metastore_connection(conn_id), None
    except Exception as exc:
        return None, f"the metadata DB could not be read: {one_line(exc)}"


def get_connection(
    conn_id: str,
    conn_types: tuple[str, ...] = (),
    *,
    purpose: str = "",
    hint: str = "",
    required: bool = True,
) -> Any | None:
    """Connection ``conn_id``, checked against ``conn_types``.

    :param conn_id: the connection id.
    :param conn_types: accepted ``conn_type`` values (any when empty); the first is named in errors.
    :param purpose: what the connection is for, named in errors (e.g. ``"export key"``).
    :param hint: what to do when it is missing, instead of the generic "create it ... where this runs".
    :param required: when ``False`` a missing connection returns ``None`` instead of raising (a connection
        of the wrong type still raises).
    :raises ConnectionLookupError: missing (if required) or of another type; one line with the fix.
    """
    conn, db_problem = _lookup(conn_id)
    return _checked(conn, conn_id, conn_types, purpose, hint, required, db_problem)


async def aget_connection(
    conn_id: str,
    conn_types: tuple[str, ...] = (),
    *,
    purpose: str = "",
    hint: str = "",
    required: bool = True,
) -> Any | None:
    """:func:`get_connection` for code on an event loop (the triggerer's Deadline Alert callbacks).

    Same search and checks, without blocking the loop (see
    :func:`platform_kit.version_compat.aget_sdk_connection`). It never reads the metadata DB itself:
    processes with an event loop are the triggerer and tasks, which reach it through the Execution API.
    """
    from platform_kit.version_compat import aget_sdk_connection, not_found_errors

    try:
        conn = await aget_sdk_connection(conn_id)
    except not_found_errors():
        conn = None
    except Exception as exc:
        raise _unreadable(conn_id, exc) from None
    return _checked(conn, conn_id, conn_types, purpose, hint, required, None)


def _unreadable(conn_id: str, exc: BaseException) -> ConnectionLookupError:
    return ConnectionLookupError(
        f"connection {conn_id!r} could not be read: {one_line(exc)}; check the secrets backend and "
        "the connection's fields"
    )


def _checked(
    conn: Any | None,
    conn_id: str,
    conn_types: tuple[str, ...],
    purpose: str,
    hint: str,
    required: bool,
    db_problem: str | None,
) -> Any | None:
    """``conn`` if it is there and of an accepted type; ``None`` or the one-line error otherwise."""
    what = f"connection {conn_id!r}" + (f" ({purpose})" if purpose else "")
    if conn is None:
        if not required:
            return None
        kind = f" with conn type {conn_types[0]!r}" if conn_types else ""
        where = f"; {db_problem}" if db_problem else ""
        fix = hint or (
            f"create it{kind} where this runs (e.g. AIRFLOW_CONN_{conn_id.upper()}, a secrets backend or "
            "the metadata DB) or pass another connection id"
        )
        raise ConnectionLookupError(f"{what} not found{where}: {fix}")
    conn_type = (getattr(conn, "conn_type", None) or "").lower()
    if conn_types and conn_type not in conn_types:
        raise ConnectionLookupError(
            f"{what} has conn type {conn.conn_type!r}, expected {conn_types[0]!r}; fix the connection or "
            "pass the right connection id"
        )
    return conn

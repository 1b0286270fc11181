"""Connection lookup with a one-line error that says what the connection is for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def lookup_connection(
    conn_id: str,
    purpose: str,
    get_connection: Callable[[str], Any] | None = None,
    *,
    hint: str = "create it or pass another connection id",
) -> Any:
    """Return Connection ``conn_id`` or raise :class:`ExportError` naming ``purpose``.

    :param purpose: what the connection is for, e.g. ``"export key"``.
    :param hint: what to do about a missing connection.
    :param get_connection: defaults to ``airflow.sdk.Connection.get`` (in a task: env vars, secrets backends,
        metadata DB; outside a task: env vars and secrets backends).
    """
    from platform_kit.export.errors import ExportError

    if get_connection is None:
        from airflow.sdk import Connection

        get_connection = Connection.get
    try:
        conn = get_connection(conn_id)
    except Exception as exc:
        if type(exc).__name__ != "AirflowNotFoundException":
            raise
        conn = None
    if conn is None:
        raise ExportError(f"connection {conn_id!r} ({purpose}) does not exist; {hint}")
    return conn

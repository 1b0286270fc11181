"""Where the export key comes from: the password of its own Connection (never Airflow's Fernet key).

The key must live somewhere that survives losing the Airflow deployment (a secrets manager behind a
secrets backend, or an ``AIRFLOW_CONN_*`` env var fed from one); an export you cannot decrypt after a
disaster is worthless. The CLI can also take it from an env var or a file for that case.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from platform_kit.export.crypto import parse_key
from platform_kit.export.errors import ExportError
from platform_kit.export.lookup import lookup_connection

DEFAULT_KEY_CONN_ID = "platform_kit_export_key"


def key_from_connection(conn_id: str, get_connection: Callable[[str], Any] | None = None) -> bytes:
    """Read the 32-byte key from the password of Connection ``conn_id``.

    :param conn_id: the key Connection's id.
    :param get_connection: looks a connection up (defaults to ``airflow.sdk.Connection.get``, which in a task
        reads env vars, secrets backends and the metadata DB; outside a task, env vars and backends only).
    :raises ExportError: the connection is missing, has no password, or the password is not a key.
    """
    conn = lookup_connection(
        conn_id,
        "export key",
        get_connection,
        hint="create it with a key from `platform-kit export generate-key` as password, "
        "or set encrypt=false for a PLAINTEXT export",
    )
    return parse_key(conn.password or "", source=f"the password of connection {conn_id!r}")


def key_from_env(name: str) -> bytes:
    """Read the key from environment variable ``name``."""
    if name not in os.environ:
        raise ExportError(f"environment variable {name} is not set")
    return parse_key(os.environ[name], source=f"environment variable {name}")


def key_from_file(path: Path) -> bytes:
    """Read the key from the first line of ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot read key file {path}: {exc.strerror}") from None
    return parse_key(text.strip(), source=f"key file {path}")

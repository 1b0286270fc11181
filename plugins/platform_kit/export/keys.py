"""Where the export key comes from: the password of its own Connection (never Airflow's Fernet key).

The key must live somewhere that survives losing the Airflow deployment (a secrets manager behind a
secrets backend, or an ``AIRFLOW_CONN_*`` env var fed from one); an export you cannot decrypt after a
disaster is worthless. The CLI can also take it from an env var or a file for that case.
"""

from __future__ import annotations

import os
from pathlib import Path

from platform_kit.connections import get_connection
from platform_kit.exceptions import ExportError
from platform_kit.export.crypto import parse_key


def key_from_connection(conn_id: str) -> bytes:
    """Read the 32-byte key from the password of Connection ``conn_id``.

    :param conn_id: the key Connection's id (looked up with :func:`platform_kit.connections.get_connection`).
    :raises ConnectionLookupError: the connection is missing.
    :raises ExportKeyError: it has no password, or the password is not a key.
    """
    conn = get_connection(
        conn_id,
        purpose="export key",
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

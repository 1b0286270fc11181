"""The export document and the import-ready files it turns into.

One export is a single JSON document (the *bundle*)::

    {"format": "platform-kit-export", "version": 1, "created_at": "...", "source": {...},
     "variables": {...}, "connections": {...}}

``variables`` is exactly what ``airflow variables import`` reads: each key maps to the value as the
metadata DB stores it (always a string, so import stores it byte for byte: no re-indented JSON, no
numbers turned into floats), or to ``{"value": ..., "description": ...}`` when the variable has a
description. Import only unwraps *dicts* carrying ``"value"``, so a stored string that merely looks like
that envelope stays a string and cannot be misread (the round-trip bug fixed upstream in PR #70944).

``connections`` is exactly what ``airflow connections import`` reads from a ``.json`` file: each id maps
to ``conn_type, description, host, login, password, schema, port, extra`` with ``extra`` as the stored
JSON text (not re-serialised, so key order and formatting survive).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from platform_kit.exceptions import ExportError

FORMAT_NAME = "platform-kit-export"
FORMAT_VERSION = 1
VARIABLES_FILE = "variables.json"
CONNECTIONS_FILE = "connections.json"
CONNECTION_FIELDS = ("conn_type", "description", "host", "login", "password", "schema", "port", "extra")


class ConnectionLike(Protocol):
    """What the export needs from a connection (``airflow.sdk.Connection`` fits)."""

    conn_type: str | None
    host: str | None
    login: str | None
    password: str | None
    schema: str | None
    port: int | None
    extra: str | None


@dataclass
class ExportContent:
    """Everything one export holds, already in import format.

    :param variables: key -> import entry (see :func:`variable_entry`).
    :param connections: conn id -> import entry (see :func:`connection_entry`).
    :param skipped: keys or ids listed by Airflow but gone (or valueless) when read; reported, not fatal.
    :param shadowed: keys or ids also defined as ``AIRFLOW_VAR_*``/``AIRFLOW_CONN_*`` env vars in the
        worker; Airflow's lookups (server side too) prefer the env value, so that may be what was exported.
    :param timings: seconds per collection phase, for the summary.
    """

    variables: dict[str, Any] = field(default_factory=dict)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    shadowed: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def variable_entry(value: str, description: str | None) -> Any:
    """The ``airflow variables import`` entry that restores ``value`` and ``description`` exactly.

    :param value: the stored value, as the metadata DB holds it (a string).
    :param description: the variable's description; ``None`` means none (and keeps the entry a string).
    """
    if not isinstance(value, str):
        raise TypeError(f"variable values are stored as strings, got {type(value).__name__}")
    if description is None:
        return value
    return {"value": value, "description": description}


def split_variable_entry(entry: Any) -> tuple[str, str | None]:
    """Inverse of :func:`variable_entry`, following ``airflow variables import``'s rules.

    Non-string values (from a CLI-mode export) are JSON-encoded the way ``Variable.set(serialize_json=True)``
    stores them.
    """
    description = None
    if isinstance(entry, dict) and "value" in entry:
        entry, description = entry["value"], entry.get("description")
    if isinstance(entry, str):
        return entry, description
    return json.dumps(entry, indent=2), description


def connection_entry(conn: ConnectionLike, description: str | None) -> dict[str, Any]:
    """The ``airflow connections import`` entry for ``conn`` (``description`` comes from the REST API)."""
    port = conn.port
    return {
        "conn_type": conn.conn_type,
        "description": description,
        "host": conn.host,
        "login": conn.login,
        "password": conn.password,
        "schema": conn.schema,
        "port": int(port) if port is not None else None,
        "extra": conn.extra,
    }


def build_bundle(content: ExportContent, *, created_at: str, source: Mapping[str, Any]) -> bytes:
    """Serialise ``content`` as the export document (UTF-8 JSON, keys sorted so equal exports are equal).

    :param created_at: ISO-8601 UTC timestamp of the export.
    :param source: non-secret facts about where the export came from (mode, Airflow version).
    """
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "created_at": created_at,
        "source": dict(source),
        "variables": content.variables,
        "connections": content.connections,
    }
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_bundle(data: bytes) -> dict[str, Any]:
    """Parse and check an export document; raises :class:`ExportError` if it is not one."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"not a platform-kit export document ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ExportError("not a platform-kit export document (missing format marker)")
    if document.get("version") != FORMAT_VERSION:
        raise ExportError(
            f"export format version {document.get('version')!r} is not supported by this platform-kit "
            f"(reads version {FORMAT_VERSION}); upgrade platform-kit"
        )
    for section in ("variables", "connections"):
        if not isinstance(document.get(section), dict):
            raise ExportError(f"export document has no {section!r} object; the file is damaged")
    for conn_id, entry in document["connections"].items():
        if not isinstance(entry, dict) or not set(entry) <= set(CONNECTION_FIELDS):
            raise ExportError(f"connection {conn_id!r} in the export has unexpected fields; file damaged")
    return document


def write_import_files(document: Mapping[str, Any], out_dir: Path, *, overwrite: bool = False) -> list[Path]:
    """Write ``variables.json`` and ``connections.json`` for ``airflow variables|connections import``.

    Files are created owner-only (0600) because they hold plaintext secrets. They are ASCII-escaped JSON so
    ``airflow ... import`` reads them under any locale.

    :param out_dir: directory to write into (created 0700 if missing).
    :param overwrite: replace existing files instead of refusing.
    """
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    targets = {
        out_dir / VARIABLES_FILE: document["variables"],
        out_dir / CONNECTIONS_FILE: document["connections"],
    }
    existing = [str(path) for path in targets if path.exists()]
    if existing and not overwrite:
        raise ExportError(f"refusing to overwrite {', '.join(existing)}; pass --force or pick another --out")
    for path, payload in targets.items():
        text = json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        with os.fdopen(os.open(path, flags, 0o600), "w", encoding="ascii") as handle:
            handle.write(text)
        path.chmod(0o600)
    return list(targets)

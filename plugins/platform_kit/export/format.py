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

import contextlib
import json
import os
import re
import tempfile
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

    Non-string values (from ``airflow variables export`` or a hand-made file) are JSON-encoded the way
    ``Variable.set(serialize_json=True)`` stores them.
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


#: What Airflow accepts as a connection id (``airflow.utils.helpers.KEY_REGEX``, at most 200 characters).
_CONNECTION_ID = re.compile(r"^[\w.-]{1,200}$")
VARIABLE_KEY_MAX = 250  # Airflow's ID_LEN


def _port_problem(port: Any) -> str | None:
    if port is None:
        return None
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        return f"port {port!r} is not a whole number from 0 to 65535"
    return None


def _extra_problem(extra: Any) -> str | None:
    if extra is None or extra == "" or isinstance(extra, dict):
        return None
    if not isinstance(extra, str):
        return f"extra is a {type(extra).__name__}, not JSON text"
    try:
        parsed = json.loads(extra)
    except ValueError:
        return "extra is not valid JSON"
    return None if isinstance(parsed, dict) else "extra is JSON but not an object"


def import_problems(variables: Mapping[str, Any], connections: Mapping[str, Any]) -> list[str]:
    """Everything in import files that Airflow would refuse, one readable line each (no values).

    Checks shapes and types the way Airflow's models and REST API do: keys and ids, ``conn_type``,
    text fields, ``port``, ``extra`` (a JSON object). What only the target database knows (a column's
    length, a constraint) is left to it: the cli import then rolls its one transaction back.
    """
    problems: list[str] = []
    for key, entry in variables.items():
        where = f"{VARIABLES_FILE}: variable {key!r}"
        if not key.strip() or len(key) > VARIABLE_KEY_MAX:
            problems.append(f"{where}: the key must be 1 to {VARIABLE_KEY_MAX} characters")
        if isinstance(entry, dict) and "value" in entry:
            unknown = sorted(set(entry) - {"value", "description"})
            if unknown:
                problems.append(f"{where}: unexpected fields {unknown}")
            description, entry = entry.get("description"), entry["value"]
            if description is not None and not isinstance(description, str):
                problems.append(f"{where}: description is not text")
        if entry is None:
            problems.append(f"{where}: has no value")
    for conn_id, entry in connections.items():
        where = f"{CONNECTIONS_FILE}: connection {conn_id!r}"
        if not _CONNECTION_ID.match(conn_id):
            problems.append(f"{where}: ids are 1 to 200 letters, digits, '.', '-' or '_'")
        if not isinstance(entry, dict):
            problems.append(f"{where}: is not an object")
            continue
        unknown = sorted(set(entry) - set(CONNECTION_FIELDS))
        if unknown:
            problems.append(f"{where}: unexpected fields {unknown}")
        if not isinstance(entry.get("conn_type"), str) or not entry["conn_type"].strip():
            problems.append(f"{where}: conn_type is missing")
        for name in ("description", "host", "login", "password", "schema"):
            if entry.get(name) is not None and not isinstance(entry[name], str):
                problems.append(f"{where}: {name} is not text")
        for problem in (_port_problem(entry.get("port")), _extra_problem(entry.get("extra"))):
            if problem:
                problems.append(f"{where}: {problem}")
    return problems


def check_importable(variables: Mapping[str, Any], connections: Mapping[str, Any]) -> None:
    """Raise a one-line :class:`ExportError` naming the first problems if anything is not importable."""
    problems = import_problems(variables, connections)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ExportError(f"{'; '.join(problems[:3])}{more}; nothing was imported - fix the files and rerun")


def importable_connection(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A checked connection entry as Airflow stores it: ``port`` a number, ``extra`` JSON text or None."""
    fields = {name: entry.get(name) for name in CONNECTION_FIELDS}
    if isinstance(fields["port"], str):
        fields["port"] = int(fields["port"])
    if isinstance(fields["extra"], dict):
        fields["extra"] = json.dumps(fields["extra"])
    elif fields["extra"] == "":
        fields["extra"] = None
    return fields


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

    They hold plaintext secrets, so nothing of them may linger half-written: each is written to a
    temporary file in ``out_dir``, created owner-only (0600) and exclusively, flushed to disk, and both are
    renamed to their names only once both are complete. On any failure (a full disk, a name taken by a
    directory, SIGTERM) every file this call wrote is removed, and the error is one line. The files are
    ASCII-escaped JSON so ``airflow ... import`` reads them under any locale.

    :param out_dir: directory to write into (created 0700 if missing).
    :param overwrite: replace existing files instead of refusing.
    :raises ExportError: nothing was written (or left behind).
    """
    from platform_kit.interrupts import note_cleanup

    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ExportError(f"{out_dir} is not a directory; pass a directory to --out") from None
    except OSError as exc:
        raise ExportError(f"cannot create {out_dir} ({exc.strerror}); pick another --out") from None
    targets = {
        out_dir / VARIABLES_FILE: document["variables"],
        out_dir / CONNECTIONS_FILE: document["connections"],
    }
    for path in targets:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise ExportError(f"{path} exists and is not a regular file; remove it or pick another --out")
    existing = [str(path) for path in targets if path.exists()]
    if existing and not overwrite:
        raise ExportError(f"refusing to overwrite {', '.join(existing)}; pass --force or pick another --out")
    temporaries: list[Path] = []
    renamed: list[Path] = []
    try:
        for path, payload in targets.items():
            text = json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
            fd, name = tempfile.mkstemp(dir=out_dir, prefix=f".{path.name}.", suffix=".partial")  # 0600
            temporaries.append(Path(name))
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        for temporary, path in zip(temporaries, targets, strict=True):
            temporary.replace(path)
            renamed.append(path)
    except BaseException as exc:
        for leftover in [*temporaries, *renamed]:
            with contextlib.suppress(OSError):
                leftover.unlink()
        note_cleanup(exc, f"partial plaintext files in {out_dir} removed")
        if isinstance(exc, OSError):
            where = exc.filename or out_dir
            raise ExportError(
                f"cannot write {where} ({exc.strerror or exc}); every file this run wrote in {out_dir} was "
                "removed - free space or fix permissions and rerun"
            ) from None
        raise
    return list(targets)

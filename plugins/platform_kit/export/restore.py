"""Restore decrypted ``variables.json`` / ``connections.json`` into an Airflow.

Two ways, same files:

``cli``: the ``airflow variables import`` / ``airflow connections import`` commands of the environment
this runs in (its ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` and Fernet key decide the target).
``rest``: the target's ``PATCH /api/v2/variables`` and ``/api/v2/connections`` bulk endpoints as a user
allowed to write them; no DB access needed.

``on_existing`` decides what happens to keys that already exist: ``overwrite``, ``skip``, or ``fail``.
``fail`` checks both files against the target before writing anything, so it never half-imports.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_kit.exceptions import ExportError
from platform_kit.export.api import AirflowApi
from platform_kit.export.format import CONNECTIONS_FILE, VARIABLES_FILE, split_variable_entry

BULK_CHUNK = 100


def load_import_files(folder: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read the two files :func:`platform_kit.export.format.write_import_files` wrote."""
    out = []
    for name in (VARIABLES_FILE, CONNECTIONS_FILE):
        path = folder / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ExportError(
                f"{path} not found; run `platform-kit export decrypt` into {folder} first"
            ) from None
        except json.JSONDecodeError as exc:
            raise ExportError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise ExportError(f"{path} must hold a JSON object")
        out.append(data)
    return out[0], out[1]


def _fail_on_conflicts(kind: str, existing: set[str], wanted: Mapping[str, Any]) -> None:
    clash = sorted(existing & set(wanted))
    if clash:
        shown = ", ".join(clash[:10]) + (f" and {len(clash) - 10} more" if len(clash) > 10 else "")
        raise ExportError(
            f"{len(clash)} {kind} already exist in the target ({shown}); nothing imported. "
            "Use --on-existing skip or overwrite"
        )


def import_with_cli(
    folder: Path, on_existing: str, *, airflow_bin: str = "airflow", env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Import with the ``airflow`` CLI of the current environment; returns counts.

    :param folder: holds ``variables.json`` and ``connections.json``.
    :param on_existing: ``overwrite``, ``skip`` or ``fail``.
    :param env: environment for the CLI (defaults to this process's).
    """
    variables, connections = load_import_files(folder)
    run_env = dict(env if env is not None else os.environ)

    def airflow(*args: str) -> str:
        proc = subprocess.run([airflow_bin, *args], env=run_env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
            raise ExportError(f"`airflow {' '.join(args[:2])}` failed: {(lines or ['no output'])[-1][:300]}")
        return proc.stdout

    if on_existing == "fail":
        existing_vars = {v["key"] for v in json.loads(airflow("variables", "list", "-o", "json") or "[]")}
        existing_conns = {
            c["conn_id"] for c in json.loads(airflow("connections", "list", "-o", "json") or "[]")
        }
        _fail_on_conflicts("variables", existing_vars, variables)
        _fail_on_conflicts("connections", existing_conns, connections)
    if variables:
        airflow("variables", "import", str(folder / VARIABLES_FILE), "--action-on-existing-key", on_existing)
    if connections:
        # connections import only knows skip (default) and --overwrite; fail was checked above.
        extra = ["--overwrite"] if on_existing == "overwrite" else []
        out = airflow("connections", "import", str(folder / CONNECTIONS_FILE), *extra)
        skipped = out.count("already exists")
    else:
        skipped = 0
    return {
        "via": "cli",
        "variables": len(variables),
        "connections": len(connections),
        "connections_skipped_existing": skipped,
    }


def _variable_body(key: str, entry: Any) -> dict[str, Any]:
    value, description = split_variable_entry(entry)
    return {"key": key, "value": value, "description": description}


def _connection_body(conn_id: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    if not entry.get("conn_type"):
        raise ExportError(
            f"connection {conn_id!r} has no conn_type; the REST API requires one (use --via cli)"
        )
    body = {"connection_id": conn_id}
    body.update(
        {
            k: entry.get(k)
            for k in ("conn_type", "description", "host", "login", "password", "schema", "port", "extra")
        }
    )
    return body


def import_with_rest(folder: Path, on_existing: str, api: AirflowApi) -> dict[str, Any]:
    """Import through the target's REST bulk endpoints; returns counts per outcome."""
    variables, connections = load_import_files(folder)
    var_bodies = [_variable_body(k, v) for k, v in variables.items()]
    conn_bodies = [_connection_body(k, v) for k, v in connections.items()]
    api.login()
    if on_existing == "fail":
        _fail_on_conflicts("variables", set(api.variable_descriptions()), variables)
        _fail_on_conflicts("connections", set(api.connection_descriptions()), connections)
    outcome: dict[str, Any] = {"via": "rest"}
    for collection, bodies in (("variables", var_bodies), ("connections", conn_bodies)):
        written, errors = 0, []
        for start in range(0, len(bodies), BULK_CHUNK):
            result = api.bulk(collection, bodies[start : start + BULK_CHUNK], on_existing)
            written += len(result.get("success") or [])
            errors += result.get("errors") or []
        if errors:
            raise ExportError(f"{collection}: {len(errors)} bulk error(s), first: {str(errors[0])[:300]}")
        outcome[collection] = written
        outcome[f"{collection}_skipped_existing"] = len(bodies) - written
    return outcome

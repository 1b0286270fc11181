"""Restore decrypted ``variables.json`` / ``connections.json`` into an Airflow: all or nothing.

Both files are checked completely (:func:`~platform_kit.export.format.import_problems`) before anything is
written. Then, two ways:

``cli``: one transaction in the database of the environment this runs in (its
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` and Fernet key decide the target), through Airflow's models in a
child interpreter (:mod:`platform_kit.export.child`): either every variable and connection is written, or
none is.
``rest``: the target's ``PATCH /api/v2/variables`` and ``/api/v2/connections`` bulk endpoints as a user
allowed to write them; no DB access needed. Each request (100 entries) is its own transaction, so a
failure part-way is reported exactly: which keys and ids were written, which were not. Rerunning the same
command (``--on-existing skip`` when the first run used ``fail``) writes the rest.

``on_existing`` decides what happens to keys that already exist: ``overwrite``, ``skip``, or ``fail``.
``fail`` checks both files against the target before writing anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_kit.exceptions import ExportError, ExportImportError
from platform_kit.export.api import AirflowApi
from platform_kit.export.format import (
    CONNECTIONS_FILE,
    VARIABLES_FILE,
    check_importable,
    importable_connection,
    split_variable_entry,
)

BULK_CHUNK = 100


def load_import_files(folder: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read and check the two files :func:`platform_kit.export.format.write_import_files` wrote.

    :raises ExportError: a file is missing or not JSON, or any entry is not importable (nothing written).
    """
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
    check_importable(out[0], out[1])
    return out[0], out[1]


def _fail_on_conflicts(kind: str, existing: set[str] | list[str], wanted: Mapping[str, Any]) -> None:
    clash = sorted(set(existing) & set(wanted))
    if clash:
        shown = ", ".join(clash[:10]) + (f" and {len(clash) - 10} more" if len(clash) > 10 else "")
        raise ExportError(
            f"{len(clash)} {kind} already exist in the target ({shown}); nothing imported. "
            "Use --on-existing skip or overwrite"
        )


def import_with_cli(
    folder: Path, on_existing: str, *, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Import into the metadata DB of the current environment in one transaction; returns counts.

    :param folder: holds ``variables.json`` and ``connections.json``.
    :param on_existing: ``overwrite``, ``skip`` or ``fail``.
    :param env: environment of the Airflow to import into (defaults to this process's).
    :raises ExportError: nothing was imported (bad files, conflicts with ``fail``, or the transaction
        failed and was rolled back; the message quotes the database's own error).
    """
    import logging

    from platform_kit.dbclean.launcher import ChildLauncher

    variables, connections = load_import_files(folder)
    log = logging.getLogger(__name__)
    child = ChildLauncher(None, log.info, module="platform_kit.export.child", base_env=env)
    result = child.run("import", variables=variables, connections=connections, on_existing=on_existing)
    if result.get("conflicts"):
        _fail_on_conflicts("variables", result["conflicts"]["variables"], variables)
        _fail_on_conflicts("connections", result["conflicts"]["connections"], connections)
    if result.get("error"):
        raise ExportError(
            f"import into the Airflow database failed ({result['error']}); nothing was imported (one "
            "transaction, rolled back) - fix the cause and rerun"
        )
    return {"via": "cli", **result}


def _variable_body(key: str, entry: Any) -> dict[str, Any]:
    value, description = split_variable_entry(entry)
    return {"key": key, "value": value, "description": description}


def _connection_body(conn_id: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"connection_id": conn_id, **importable_connection(entry)}


def import_with_rest(folder: Path, on_existing: str, api: AirflowApi) -> dict[str, Any]:
    """Import through the target's REST bulk endpoints; returns what was written and skipped, by name.

    :raises ExportImportError: a request failed part-way; ``outcome`` lists exactly what was written and
        what was not (nothing of a failed request is: each is one transaction on the server).
    """
    variables, connections = load_import_files(folder)
    batches = {
        "variables": [_variable_body(k, v) for k, v in variables.items()],
        "connections": [_connection_body(k, v) for k, v in connections.items()],
    }
    id_field = {"variables": "key", "connections": "connection_id"}
    api.login()
    if on_existing == "fail":
        _fail_on_conflicts("variables", set(api.variable_descriptions()), variables)
        _fail_on_conflicts("connections", set(api.connection_descriptions()), connections)
    written: dict[str, list[str]] = {"variables": [], "connections": []}
    skipped: dict[str, list[str]] = {"variables": [], "connections": []}
    not_written: dict[str, list[str]] = {"variables": [], "connections": []}
    failure: str | None = None
    for collection, bodies in batches.items():
        for start in range(0, len(bodies), BULK_CHUNK):
            chunk = bodies[start : start + BULK_CHUNK]
            names = [body[id_field[collection]] for body in chunk]
            if failure is not None:
                not_written[collection] += names  # stop at the first failure: less to finish later
                continue
            try:
                result = api.bulk(collection, chunk, on_existing)
            except ExportError as exc:
                failure, result = f"{collection} {names[0]}...: {exc}", {}
            success = set(result.get("success") or [])
            errors = result.get("errors") or []
            if errors and failure is None:
                failure = f"{collection} {names[0]}...: {str(errors[0])[:200]}"
            for name in names:
                if name in success:
                    written[collection].append(name)
                elif failure is not None:
                    not_written[collection].append(name)
                else:
                    skipped[collection].append(name)  # existed, and on_existing=skip
    outcome: dict[str, Any] = {"via": "rest"}
    for collection in batches:
        outcome[collection] = len(written[collection])
        outcome[f"{collection}_skipped_existing"] = len(skipped[collection])
    if failure is None:
        return outcome
    outcome.update(written=written, not_written=not_written)
    rerun = " with --on-existing skip" if on_existing == "fail" else ""
    raise ExportImportError(
        f"REST import incomplete: wrote {len(written['variables'])} variables and "
        f"{len(written['connections'])} connections, not {len(not_written['variables'])} variables and "
        f"{len(not_written['connections'])} connections (the lists are on stdout); first failure: "
        f"{failure}. Fix the cause and rerun{rerun} to write the rest",
        outcome,
    )

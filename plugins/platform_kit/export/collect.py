"""Read every variable and connection of the metadata DB, values included, in import format.

Two ways, chosen by the DAG's ``mode`` Param:

``sdk`` (default, supported Airflow 3 interfaces): variable keys from ``Variable.keys()`` (3.3+; the REST
API's variable list before); connection ids from ``GET /api/v2/connections``; descriptions of both from
the REST API (the execution API does not carry them); every value through the Task SDK's execution-API
backend, the metadata-DB lookup that ``Variable.get()``/``Connection.get()`` end in on a worker (see
``tasks.collect_with_sdk`` for why it is called directly). Works wherever a task runs; one execution-API
round trip per key.

``cli`` (opt-in): ``airflow variables export`` and ``airflow connections export`` in a subprocess whose
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` points at the metadata DB through the ``airflow_metadb``
Connection. Faster (two queries), but it deliberately bypasses Airflow 3's task DB isolation, needs a
network path from the worker to the DB plus the DB driver and the Fernet key on the worker, and inherits
the CLI's fidelity (JSON values come back re-indented: the CLI decodes them, and the export stores them as
the string import would write, see ``format.stored_variable_entry``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from platform_kit.dburl import secrets_of, url_from_connection
from platform_kit.exceptions import ExportError
from platform_kit.export.format import (
    ConnectionLike,
    ExportContent,
    connection_entry,
    stored_variable_entry,
    variable_entry,
)
from platform_kit.utils import scrub
from platform_kit.version_compat import variables_export_round_trips

log = logging.getLogger(__name__)

PROGRESS_EVERY = 1000  # a progress line (counts only) every N reads, so long exports show they move
MAX_LISTED = 20  # how many skipped/shadowed names a summary lists before it only counts


def env_shadowed(kind: str, name: str) -> bool:
    """Whether an ``AIRFLOW_VAR_*`` / ``AIRFLOW_CONN_*`` env var hides the metadata-DB entry ``name``.

    Airflow resolves every read through env vars and secrets backends before the metadata DB, the
    execution API on the server included, so for such an entry the export carries the override (when the
    API server has the same env, as in compose), not the stored row. The summary names these entries;
    ``cli`` mode exports stored rows exactly.
    """
    prefix = "AIRFLOW_VAR_" if kind == "variable" else "AIRFLOW_CONN_"
    return f"{prefix}{name.upper()}" in os.environ


def _read_all(
    kind: str,
    names: Iterable[str],
    read: Callable[[str], Any],
    still_exists: Callable[[str], bool] | None,
    content: ExportContent,
) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, value)`` for every name that can be read; tell "gone" apart from "unreadable".

    The execution API answers "not found" both for a missing entry and for a transient failure, so a miss
    is retried once and then checked against the REST API: an entry that still exists fails the export
    (an incomplete export must not look complete); one that is gone (deleted meanwhile, or a variable with
    a NULL value) is skipped and listed in the summary.
    """
    names = list(names)
    for done, name in enumerate(names, start=1):
        if done % PROGRESS_EVERY == 0:
            log.info("read %d of %d %ss", done, len(names), kind)
        value = read(name)
        if value is None:
            value = read(name)
        if value is None:
            if still_exists is not None and still_exists(name):
                raise ExportError(
                    f"{kind} {name!r} exists but could not be read through the execution API; "
                    "nothing was uploaded, run the export again"
                )
            content.skipped.append(name)
            continue
        if env_shadowed(kind, name):
            content.shadowed.append(name)
        yield name, value


def collect_variables(
    keys: Iterable[str],
    read_value: Callable[[str], str | None],
    descriptions: Mapping[str, str | None],
    content: ExportContent,
    *,
    still_exists: Callable[[str], bool] | None = None,
) -> None:
    """Add every variable in ``keys`` to ``content``.

    :param keys: the keys stored in the metadata DB (``Variable.keys()``).
    :param read_value: reads one stored value; ``None`` when it cannot be found.
    :param descriptions: key -> description, from the REST API.
    :param still_exists: asks the REST API whether a key that could not be read still has a value.
    """
    for key, value in _read_all("variable", keys, read_value, still_exists, content):
        content.variables[key] = variable_entry(value, descriptions.get(key))


def collect_connections(
    descriptions: Mapping[str, str | None],
    read_connection: Callable[[str], ConnectionLike | None],
    content: ExportContent,
    *,
    still_exists: Callable[[str], bool] | None = None,
) -> None:
    """Add every connection id in ``descriptions`` (from the REST API) to ``content``, read in full.

    :param read_connection: reads one stored connection in full; ``None`` when it cannot be found.
    :param still_exists: asks the REST API whether an id that could not be read still exists.
    """
    for conn_id, conn in _read_all("connection", descriptions, read_connection, still_exists, content):
        content.connections[conn_id] = connection_entry(conn, descriptions[conn_id])


def collect_via_cli(
    metadb: ConnectionLike, conn_id: str, *, airflow_bin: str = "airflow", timeout: float = 900
) -> ExportContent:
    """Run ``airflow variables export`` / ``airflow connections export`` against the metadata DB.

    The CLI writes into a private temporary directory that is removed afterwards; its output never reaches
    the task log (errors are reduced to their last line with the DB password blanked).

    :param metadb: the postgres Connection to the metadata DB (``airflow_metadb``).
    :param conn_id: its id, for error messages.
    :param airflow_bin: the ``airflow`` executable.
    """
    try:
        url = url_from_connection(metadb)
    except ValueError as exc:
        raise ExportError(f"cli mode cannot reach the metadata DB through {conn_id!r}: {exc}") from exc
    env = dict(os.environ)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url
    env.pop("AIRFLOW__CORE__SQL_ALCHEMY_CONN", None)
    secrets = secrets_of(url)
    workdir = Path(tempfile.mkdtemp(prefix="platform-kit-export-"))
    try:
        variables_path = workdir / "variables.json"
        connections_path = workdir / "connections.json"
        _run_cli([airflow_bin, "variables", "export", str(variables_path)], env, secrets, timeout)
        _run_cli(
            [airflow_bin, "connections", "export", str(connections_path), "--file-format", "json"],
            env,
            secrets,
            timeout,
        )
        variables = json.loads(variables_path.read_text(encoding="utf-8"))
        connections = json.loads(connections_path.read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not variables_export_round_trips():
        for key in sorted(
            k for k, entry in variables.items() if isinstance(entry, dict) and "value" in entry
        ):
            variables[key] = _disambiguated(key, variables[key], airflow_bin, env, secrets, timeout)
    return ExportContent(
        variables={key: stored_variable_entry(entry) for key, entry in variables.items()},
        connections=connections,
    )


def _disambiguated(
    key: str, entry: dict[str, Any], airflow_bin: str, env: dict[str, str], secrets: list[str], timeout: float
) -> Any:
    """``entry`` as import must read it, when this Airflow's export may have written a stored value that
    looks like ``{"value": ..., "description": ...}`` bare: the stored string (``airflow variables get``)
    tells whether the envelope is Airflow's or the value itself. One CLI start per such key (rare).
    """
    # Variable.get consults AIRFLOW_VAR_* before the metadata DB: drop them so the stored value answers.
    stored_env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW_VAR_")}
    printed = _run_cli([airflow_bin, "variables", "get", key], stored_env, secrets, timeout)
    stored = printed[:-1] if printed.endswith("\n") else printed  # `variables get` print()s the value
    try:
        whole_value = json.loads(stored) == entry
    except ValueError:
        whole_value = False
    return variable_entry(stored, None) if whole_value else entry


def _run_cli(argv: list[str], env: dict[str, str], secrets: list[str], timeout: float) -> str:
    """Run one ``airflow`` command; its standard output. :raises ExportError: one line, secrets blanked."""
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise ExportError(
            f"{argv[0]!r} not found on PATH; cli mode needs the Airflow CLI on the worker"
        ) from None
    except subprocess.TimeoutExpired:
        raise ExportError(f"`{' '.join(argv[:3])}` timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout or "").splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise ExportError(f"`{' '.join(argv[:3])}` failed: {scrub(last, secrets)[:300]}")
    return proc.stdout


def summarise_names(names: list[str]) -> dict[str, Any]:
    """``{"count": n, "names": first MAX_LISTED}`` for a summary (names are keys/ids, never values)."""
    return {"count": len(names), "names": sorted(names)[:MAX_LISTED]}

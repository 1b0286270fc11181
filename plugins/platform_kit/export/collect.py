"""Read every variable and connection of the metadata DB, values included, in import format.

Two ways, chosen by the DAG's ``mode`` Param; both produce the same :class:`ExportContent`:

``db`` (default): two ``SELECT`` statements through the dedicated metadata-DB Connection
(``airflow_metadb``, as the backup and DB cleanup use) and Airflow's own Fernet helper, in a child process
that alone holds the URL (:mod:`platform_kit.export.dbread`). Seconds at 10,000 variables; exports the
stored rows exactly. Needs a network path from the worker to the DB and the Fernet key on the worker.

``sdk`` (supported Airflow 3 interfaces only): variable keys from ``Variable.keys()`` (3.3+; the REST
API's variable list before); connection ids from ``GET /api/v2/connections``; descriptions of both from
the REST API (the execution API does not carry them); every value through the Task SDK's execution-API
backend, the metadata-DB lookup that ``Variable.get()``/``Connection.get()`` end in on a worker (see
``tasks.collect_with_sdk`` for why it is called directly). Works wherever a task runs, with no DB access;
one execution-API round trip per key, and the api-server pays Airflow's secrets-masker cost for every row
(minutes at thousands).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from platform_kit.exceptions import ExportError
from platform_kit.export.format import ConnectionLike, ExportContent, connection_entry, variable_entry

log = logging.getLogger(__name__)

PROGRESS_EVERY = 1000  # a progress line (counts only) every N reads, so long exports show they move
MAX_LISTED = 20  # how many skipped/shadowed names a summary lists before it only counts


def env_shadowed(kind: str, name: str) -> bool:
    """Whether an ``AIRFLOW_VAR_*`` / ``AIRFLOW_CONN_*`` env var hides the metadata-DB entry ``name``.

    Airflow resolves every read through env vars and secrets backends before the metadata DB, the
    execution API on the server included, so for such an entry the export carries the override (when the
    API server has the same env, as in compose), not the stored row. The summary names these entries;
    ``db`` mode exports stored rows exactly.
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


def collect_from_db(url: str, *, source: str, output: Callable[[str], None] = log.info) -> ExportContent:
    """``db`` mode: every row of the metadata DB, decrypted with Airflow's Fernet key in a child process.

    :param url: SQLAlchemy URL of the metadata DB (:mod:`platform_kit.dburl`); only the child gets it.
    :param source: names where the URL came from in errors, e.g. ``"connection 'airflow_metadb'"``.
    :param output: receives the child's progress lines (counts only, scrubbed of the URL).
    :raises ExportError: the DB cannot be read, the Fernet key is missing or wrong for some rows (named by
        key and id), or the child died; nothing is returned, so nothing is uploaded.
    """
    from types import SimpleNamespace

    from platform_kit.dbclean.launcher import ChildLauncher

    started = time.monotonic()
    child = ChildLauncher(
        url,
        output,
        module="platform_kit.export.dbread",
        what="export reader process",
        # Airflow's own warnings there (e.g. "empty cryptography key") would only repeat, less precisely,
        # what the reader reports itself; its progress lines are plain prints and stay.
        settings={"AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"},
    )
    result = child.run("read", source=source)
    if result.get("error"):
        raise ExportError(f"export mode db: {result['error']}")
    content = ExportContent()
    for key, value, description in result["variables"]:
        if value is None:  # a NULL value: what the execution API reports as "not found" (sdk mode skips it)
            content.skipped.append(key)
            continue
        content.variables[key] = variable_entry(value, description)
    for fields in result["connections"]:
        content.connections[fields["conn_id"]] = connection_entry(
            SimpleNamespace(**fields), fields["description"]
        )
    content.timings = {
        **result["timings"],
        "reader_process_seconds": round(time.monotonic() - started, 2),
    }
    return content


def summarise_names(names: list[str]) -> dict[str, Any]:
    """``{"count": n, "names": first MAX_LISTED}`` for a summary (names are keys/ids, never values)."""
    return {"count": len(names), "names": sorted(names)[:MAX_LISTED]}

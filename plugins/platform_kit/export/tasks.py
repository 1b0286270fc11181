"""The export DAG's task: a thin adapter from Params and Airflow Connections to the plain-Python engine.

``db`` mode (default) reads the metadata DB through ``metadb_conn_id`` in a child process
(:func:`~platform_kit.export.collect.collect_from_db`); ``sdk`` mode reads through the Task SDK and the
REST API (:func:`collect_with_sdk`).

Runs inside a task (Task SDK available). Never logs or returns a value: the summary holds counts, sizes,
hashes, names and URLs only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from platform_kit.adapters import fails_cleanly
from platform_kit.connections import get_connection
from platform_kit.export.collect import collect_connections, collect_variables
from platform_kit.export.format import ExportContent
from platform_kit.maintenance import optional_text
from platform_kit.settings import EXPORT_URL_VARIABLE

log = logging.getLogger(__name__)


def collect_with_sdk(api_conn_id: str) -> ExportContent:
    """``sdk`` mode: ids and descriptions from the REST API, values from the Task SDK.

    Variable keys come from ``Variable.keys()`` on Airflow 3.3+ and from the REST API's variable list
    before (both list the variables stored in the metadata DB).

    Values are read with the Task SDK's ``ExecutionAPISecretsBackend``, the metadata-DB lookup that
    ``Variable.get()`` and ``Connection.get()`` end in on a worker, called directly because the export
    needs what the DB stores, nothing else:

    * ``Variable.get``/``Connection.get`` first look at the worker's env vars and secrets backends (the
      server side of the execution API then does the same with its own; see ``collect.env_shadowed``);
    * ``Connection.get`` (and ``Variable.get`` for sensitive names) registers each value with the secrets
      masker, which recompiles one regex over all known secrets per call, in the task and again in its
      supervisor: quadratic, measured at ~53 s for 300 connections and minutes for 1,000. The export never
      logs a value, so the registration buys nothing here.
    """
    from platform_kit.export.api import AirflowApi
    from platform_kit.version_compat import execution_api_secrets_backend, variable_keys

    started = time.monotonic()
    api = AirflowApi.from_connection(get_connection(api_conn_id, purpose="REST API service account"))
    api.login()
    connection_descriptions = api.connection_descriptions()
    variable_descriptions = api.variable_descriptions()
    keys = variable_keys()
    if keys is None:  # Airflow < 3.3 has no Variable.keys(); the REST list holds the same stored keys
        keys = list(variable_descriptions)
    listed = time.monotonic()
    backend = execution_api_secrets_backend()
    content = ExportContent()
    collect_variables(
        keys,
        backend.get_variable,
        variable_descriptions,
        content,
        still_exists=api.variable_has_value,
    )
    collect_connections(
        connection_descriptions, backend.get_connection, content, still_exists=api.connection_exists
    )
    content.timings = {
        "list_keys_ids_descriptions_seconds": round(listed - started, 2),
        "read_values_seconds": round(time.monotonic() - listed, 2),
    }
    return content


def metadb_collector(
    conn_id: str, *, output: Callable[[str], None] = log.info
) -> Callable[[], ExportContent]:
    """``db`` mode's collector: the URL from Connection ``conn_id``, registered with the masker (it is a
    secret of this task, unlike the exported values, which are never registered or logged)."""
    from platform_kit.dburl import task_metadb_url
    from platform_kit.export.collect import collect_from_db

    url = task_metadb_url(
        conn_id,
        purpose="metadata DB for export mode db",
        hint="create it (conn type postgres, like the backup's) where the task runs, or run with mode=sdk",
    )
    return lambda: collect_from_db(url, source=f"connection {conn_id!r}", output=output)


@fails_cleanly
def export_task(params: Mapping[str, Any], dag_run: Any = None) -> dict[str, Any]:
    """Run one export from the DAG's Params; returns the summary for XCom (no values).

    A scheduled run's retention is a dry run until the DAG is confirmed (:mod:`platform_kit.confirmation`);
    the export itself is always uploaded.
    """
    from platform_kit.confirmation import deletion_gate
    from platform_kit.export.engine import check_mode, export_to, title_for
    from platform_kit.export.keys import key_from_connection
    from platform_kit.storage import resolve_destination
    from platform_kit.summary import report

    mode = check_mode(params["mode"])
    url = resolve_destination(optional_text(params, "destination"), EXPORT_URL_VARIABLE)
    key = key_from_connection(params["key_conn_id"]) if params["encrypt"] else None
    if key is None:
        log.warning(
            "encrypt=false: this export is PLAINTEXT; anyone who can read the destination reads every secret"
        )
    if mode == "db":
        collect = metadb_collector(params["metadb_conn_id"])
    else:
        api_conn_id = params["api_conn_id"]

        def collect() -> ExportContent:
            return collect_with_sdk(api_conn_id)

    # The whole run's dry_run is the person's choice; the gate only ever holds retention back.
    gate = deletion_gate(dag_run, requested_dry_run=bool(params["dry_run"]))
    summary = export_to(
        url,
        collect,
        mode=mode,
        key=key,
        dry_run=params["dry_run"],
        retention_dry_run=gate.held_back,
        keep_daily=params["keep_daily"],
        keep_weekly=params["keep_weekly"],
        keep_monthly=params["keep_monthly"],
        aws_conn_id=params["aws_conn_id"],
        google_conn_id=params["google_conn_id"],
    )
    summary = report(
        title_for(summary),
        {**gate.summary(), **summary},
        slack_conn_id=optional_text(params, "slack_conn_id"),
        logger=log,
    )
    gate.record()
    return summary

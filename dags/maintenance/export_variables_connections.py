"""Daily encrypted export of every Airflow Variable and Connection, re-importable with the Airflow CLI."""

from __future__ import annotations

from airflow.sdk import Param

from platform_kit.defaults import API_CONN_ID, EXPORT_KEY_CONN_ID, EXPORT_MODE, EXPORT_MODES
from platform_kit.maintenance import (
    destination_param,
    maintenance_dag,
    maintenance_task,
    metadb_param,
    retention_params,
    slack_param,
    storage_params,
)
from platform_kit.settings import EXPORT_URL_VARIABLE

DOC_MD = """
### Variable and connection export (`platform_kit_export`)

**When to use it**: keep a portable copy of every Variable and Connection stored in the metadata DB
that survives losing the Fernet key or the whole deployment, and moves to a new Airflow. The file is the
JSON `airflow variables import` / `airflow connections import` read back, encrypted with AES-256-GCM
under a key kept in its own Connection (not the Fernet key), uploaded with a `manifest.json` (counts,
sha256, key fingerprint) and pruned with the same retention as the metadata-DB backups.

**Restore**: `platform-kit export decrypt FILE --key-conn platform_kit_export_key --out DIR`, then
`platform-kit export import DIR --on-existing skip|overwrite|fail` (or `airflow variables import` /
`airflow connections import` on the two files). See `docs/export.md`.

**Params**
- `destination`: `s3://bucket/prefix` or `gs://bucket/prefix`; empty = the Variable `platform_kit_export_url`.
- `encrypt`: keep `true`. `false` writes a PLAINTEXT export; the summary and title say so.
- `key_conn_id`: Connection whose password is the key (`platform-kit export generate-key`).
- `mode`: `db` (default) reads the rows through `metadb_conn_id` and decrypts them with Airflow's Fernet
  key in a child process: seconds for 10,000 variables, the stored rows exactly. It needs the worker to
  reach the metadata DB and to have `[core] fernet_key` (as the scheduler does); if either is missing
  the run fails in one line naming the fix. `sdk` uses only the Task SDK and the REST API, for workers
  without DB access: ~30 minutes at 10,000 variables and 1,000 connections, loading the
  api-server (see `docs/benchmarks.md`).
- `metadb_conn_id`: postgres Connection to the metadata DB (`db` mode; the backup's).
- `api_conn_id`: http Connection, host = API base URL, login/password = service account (`sdk` mode).
- `aws_conn_id` / `google_conn_id`: Connections for `s3://` / `gs://` destinations (as for backups).
- `keep_daily` / `keep_weekly` / `keep_monthly`: retention, as for backups; the newest export is always kept.
- `dry_run`: collect and encrypt, report sizes and what retention would delete; upload and delete nothing.
- `slack_conn_id`: post the run summary to this Slack webhook connection (empty = log/XCom only).

**Watch for**: entries defined only as env vars (`AIRFLOW_VAR_*`, `AIRFLOW_CONN_*`) or in a secrets
backend are not exported (they are not in the DB). In `sdk` mode a stored entry that an env var shadows
is exported with the override's value (Airflow resolves env first, server side too) and listed in the
summary; `db` mode exports the stored row. An entry that exists but cannot be read (or decrypted) fails
the run, naming it; nothing is uploaded. Keep the key somewhere that survives the
deployment: an export you cannot decrypt is worthless. No value ever appears in the log or XCom,
only counts and hashes.
"""

with maintenance_dag(
    "platform_kit_export",
    description="Encrypted, re-importable export of all Variables and Connections to S3/GCS",
    doc_md=DOC_MD,
    tags=["export"],
    params={
        **destination_param(EXPORT_URL_VARIABLE),
        "encrypt": Param(
            True, type="boolean", description="Encrypt with the key Connection. false = PLAINTEXT export."
        ),
        "key_conn_id": Param(
            EXPORT_KEY_CONN_ID,
            type="string",
            minLength=1,
            description="Connection whose password holds the base64 32-byte export key (not the Fernet key).",
        ),
        "mode": Param(
            EXPORT_MODE,
            type="string",
            enum=list(EXPORT_MODES),
            description="db: metadata DB via metadb_conn_id + Fernet key (fast, default). sdk: Task SDK + "
            "REST API only, for workers without DB access (slow at thousands).",
        ),
        "api_conn_id": Param(
            API_CONN_ID,
            type="string",
            minLength=1,
            description="http Connection of the REST API service account (host = base URL), sdk mode.",
        ),
        **metadb_param(),  # db mode
        **storage_params(),
        **retention_params("export"),
        "dry_run": Param(
            False, type="boolean", description="Collect and encrypt only: upload nothing, delete nothing."
        ),
        **slack_param(),
    },
) as dag:

    @maintenance_task("export")
    def export(params=None, dag_run=None) -> dict:
        """Collect, encrypt, upload with a manifest, apply retention; return the summary (no values)."""
        from platform_kit.export.tasks import export_task

        return export_task(params, dag_run=dag_run)

    export()

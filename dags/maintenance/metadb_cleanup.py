"""Metadata-DB cleanup with core's `airflow db clean` engine, run only after a verified backup."""

from __future__ import annotations

from airflow.sdk import Param

from platform_kit.assets import METADB_BACKUP
from platform_kit.dbclean.tables import ALL_TABLES, SAFE_TABLES, UNSAFE_TABLES
from platform_kit.defaults import DB_CLEAN_BATCH_SIZE, DB_CLEAN_RETENTION_DAYS
from platform_kit.maintenance import (
    maintenance_dag,
    maintenance_task,
    metadb_param,
    optional_text_param,
    slack_param,
    storage_params,
)
from platform_kit.version_compat import AIRFLOW_V_3_2_PLUS, airflow_version_text

DAG_FILTER = (
    "available on this Airflow"
    if AIRFLOW_V_3_2_PLUS
    else f"**off on this Airflow ({airflow_version_text()})**: core's cleanup has no DAG filter before 3.2, "
    "so a run that sets either is refused in one line"
)

DOC_MD = f"""
### Metadata-DB cleanup (`platform_kit_metadb_cleanup`)

**When to use it**: keep `log`, `xcom`, `task_instance`, `dag_run` and friends from growing forever.
It runs Airflow's own cleanup engine (what `airflow db clean` calls), so it keeps the last scheduled
run of every DAG, cascades to dependent tables and archives rows exactly like core. It is scheduled on
the backup Asset: it runs **only after `platform_kit_metadb_backup` verified a backup**, never after a
failed one. Trigger it by hand with `dry_run` first to see the counts. Asset-triggered runs are dry runs
until a person has triggered a real run by hand (Variable `platform_kit_metadb_cleanup_confirmed`).

**What it adds to `airflow db clean`**: it works from an Airflow 3 task (the DB URL is built from the
`airflow_metadb` connection and given only to a child process); any table that fails fails the task,
naming the table and the cause (core exits 0 by default); rows matched/deleted per table, rows removed
by foreign-key cascades, DB size before/after and durations in the log, XCom and optionally Slack.

**Params**
- `retention_days`: purge rows older than this (each table has its own date column, see
  `docs/db-cleanup.md`).
- `tables`: what to clean, from the tables this Airflow's cleanup offers. Default: the safe set. Left
  out unless you pick them:
  {", ".join(f"`{t}`" for t in UNSAFE_TABLES)} (why: `docs/db-cleanup.md`). Core adds dependent tables.
- `dag_ids` / `exclude_dag_ids`: restrict to / never touch these DAGs. Tables without a usable `dag_id`
  are then skipped (reported), never purged for every DAG. Airflow 3.2+: {DAG_FILTER}.
- `batch_size`: rows per archive-and-delete transaction; lower it if statements time out.
- `dry_run`: count only; nothing changes.
- `archive`: `export_and_drop` (default) uploads core's archive tables as CSV (one file per table,
  read back and checked) plus a manifest, then drops them; `keep` leaves `_airflow_deleted__*` tables
  in the DB (they grow it and every backup); `skip` keeps no archive (the backup has the rows).
- `export_url`: where archives go; empty = a `db-clean-archives` prefix next to the Variable
  `platform_kit_backup_url` (e.g. `s3://b/metadb` -> `s3://b/db-clean-archives`).
- `metadb_conn_id`, `aws_conn_id`, `google_conn_id`, `slack_conn_id` (empty = no Slack).

**Watch for**: deleted rows free space for reuse inside PostgreSQL; the DB file size only shrinks after
`VACUUM FULL`/`pg_repack`. Keep-last applies to `dag_run` only, and never to manual runs. The DB user
needs SELECT, DELETE and CREATE (archive tables) on the metadata schema.
"""

with maintenance_dag(
    "platform_kit_metadb_cleanup",
    description="airflow db clean after each verified metadata-DB backup: batched, loud on failure",
    doc_md=DOC_MD,
    schedule=[METADB_BACKUP],
    tags=["metadb"],
    params={
        "retention_days": Param(
            DB_CLEAN_RETENTION_DAYS,
            type="integer",
            minimum=1,
            maximum=3650,
            description="Purge rows older than this many days.",
        ),
        "tables": Param(
            list(SAFE_TABLES),
            type="array",
            items={"type": "string", "enum": list(ALL_TABLES)},
            uniqueItems=True,
            description="Tables to clean (core adds dependents). Default: the safe set, without "
            + ", ".join(UNSAFE_TABLES)
            + ".",
        ),
        "dag_ids": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Only rows of these DAGs (empty = all). Airflow 3.2+.",
        ),
        "exclude_dag_ids": Param(
            [], type="array", items={"type": "string"}, description="Never rows of these DAGs. Airflow 3.2+."
        ),
        "batch_size": Param(
            DB_CLEAN_BATCH_SIZE,
            type="integer",
            minimum=1,
            maximum=1000000,
            description="Rows per archive-and-delete transaction; lower it on statement timeouts.",
        ),
        "dry_run": Param(False, type="boolean", description="Count what would be purged; change nothing."),
        "archive": Param(
            "export_and_drop",
            type="string",
            enum=["export_and_drop", "keep", "skip"],
            description="export_and_drop: CSV to storage, verify, drop. keep: archive tables stay in the "
            "DB. skip: no archive.",
        ),
        "export_url": optional_text_param(
            "s3://bucket/prefix or gs://bucket/prefix for archives; empty = db-clean-archives "
            "next to the Variable platform_kit_backup_url."
        ),
        **metadb_param(),
        **storage_params(),
        **slack_param(),
    },
) as dag:

    @maintenance_task("clean")
    def clean(params=None, dag_run=None) -> dict:
        """Run the cleanup; the summary (rows per table, DB size before/after) goes to XCom."""
        from platform_kit.dbclean.tasks import run_cleanup

        return run_cleanup(params, dag_run=dag_run)

    clean()

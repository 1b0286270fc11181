"""Daily metadata-DB backup: pg_dump streamed to S3/GCS, verified, rotated; emits the backup Asset."""

from __future__ import annotations

from airflow.sdk import Param

from platform_kit.assets import METADB_BACKUP
from platform_kit.defaults import (
    BACKUP_COMPRESS_LEVEL,
    BACKUP_EXCLUDE_TABLE_DATA,
    BACKUP_LOCK_WAIT_TIMEOUT_SECONDS,
)
from platform_kit.maintenance import (
    destination_param,
    maintenance_dag,
    maintenance_task,
    metadb_param,
    optional_text_param,
    retention_params,
    slack_param,
    storage_params,
)
from platform_kit.settings import BACKUP_URL_VARIABLE

DOC_MD = """
### Metadata DB backup (`platform_kit_metadb_backup`)

**When to use it**: every day, and by hand right before `airflow db migrate` / an Airflow upgrade (or run
`platform-kit backup create --to URL` from a shell). `pg_dump -Fc` of the metadata DB is streamed straight
into S3 (multipart) or GCS (resumable) - no temp file - with its SHA-256 computed on the way and a
`manifest.json` written last. If pg_dump or the upload fails at any point the upload is aborted: no object,
no manifest, earlier backups untouched. The `verify` task re-reads the object, checks the SHA-256 and runs
`pg_restore --list` (optionally a full restore into a scratch DB). Only then is the Asset
`platform_kit_metadb_backup` updated (the DB cleanup DAG runs on it) and retention applied.

**Restoring needs the same Fernet key** (`[core] fernet_key`) as the source: back the key up separately.
The manifest records only its SHA-256 fingerprint; the run summary shows it as `sha256:<12 hex digits>`.
With an empty key the dump holds secrets in plaintext.
Restore with `platform-kit backup restore URL --target-dsn postgresql://...` (see `docs/backup.md`).

**Params**
- `destination`: `s3://bucket/prefix` or `gs://bucket/prefix`; empty = Variable `platform_kit_backup_url`
  (read when the run starts, not at parse time).
- `aws_conn_id` / `google_conn_id`: connection for `s3://` / `gs://` destinations.
- `request_checksum_calculation`: `when_required` for S3-compatible stores (MinIO, B2, ...) that reject
  boto3's default checksums.
- `metadb_conn_id`: postgres connection to the metadata DB (a task cannot use Airflow's own DB settings).
- `exclude_table_data`: tables whose rows are skipped (definitions are kept); psql patterns.
- `lock_wait_timeout_seconds`: fail instead of waiting longer for a table lock (e.g. during a migration).
- `compress_level`: zlib level of the custom format, 0-9 (-1 = pg_dump's default).
- `restore_test`: also restore into a scratch database and compare the row count of every table, then
  drop it. Needs CREATEDB on `restore_test_conn_id` (empty = `metadb_conn_id`).
- `keep_daily` / `keep_weekly` / `keep_monthly`: retention over verified backups; the newest verified
  backup is always kept; incomplete or unverified ones are never touched.
- `retention_dry_run`: report what retention would delete; delete nothing (the backup is still taken).
  A scheduled run's retention is a dry run anyway until a person has run this DAG for real by hand
  (Variable `platform_kit_metadb_backup_confirmed`).
- `slack_conn_id`: post the run summary to this Slack webhook connection (empty = log/XCom only).

**Watch for**: pg_dump must be at least the server's major version (preflight says which client to
install); pg_dump holds share locks on every table while it runs - do not overlap it with
`airflow db migrate`. Add a bucket lifecycle rule `AbortIncompleteMultipartUpload` for uploads whose
abort could not reach S3.
"""

with maintenance_dag(
    "platform_kit_metadb_backup",
    description="pg_dump of the metadata DB streamed to S3/GCS, verified, rotated, restorable",
    doc_md=DOC_MD,
    tags=["backup"],
    params={
        **destination_param(BACKUP_URL_VARIABLE),
        **storage_params(),
        "request_checksum_calculation": Param(
            "when_supported",
            type="string",
            enum=["when_supported", "when_required"],
            description="S3 request checksums; when_required for S3-compatible stores that reject "
            "boto3's default.",
        ),
        **metadb_param(),
        "exclude_table_data": Param(
            list(BACKUP_EXCLUDE_TABLE_DATA),
            type="array",
            items={"type": "string", "minLength": 1},
            description="Tables (psql patterns) whose rows are not dumped; their definitions are.",
        ),
        "lock_wait_timeout_seconds": Param(
            BACKUP_LOCK_WAIT_TIMEOUT_SECONDS,
            type="integer",
            minimum=1,
            maximum=3600,
            description="Give up if a table lock is not granted in time.",
        ),
        "compress_level": Param(
            BACKUP_COMPRESS_LEVEL,
            type="integer",
            minimum=-1,
            maximum=9,
            description="zlib level 0-9 of the dump; -1 = pg_dump default (6).",
        ),
        "restore_test": Param(
            False,
            type="boolean",
            description="Restore into a scratch DB, compare every table's row count, drop it.",
        ),
        "restore_test_conn_id": optional_text_param(
            "postgres connection (with CREATEDB) for the scratch DB; empty = metadb_conn_id."
        ),
        **retention_params("backup"),
        "retention_dry_run": Param(
            False, type="boolean", description="Report what retention would delete; delete nothing."
        ),
        **slack_param(),
    },
) as dag:

    @maintenance_task("preflight")
    def preflight(params=None) -> dict:
        """pg_dump present and new enough, DB reachable, bucket reachable, prefix writable."""
        from platform_kit.backup.tasks import preflight_task

        return preflight_task(params)

    @maintenance_task("dump_and_upload")
    def dump_and_upload(checked: dict, params=None) -> dict:
        """pg_dump -Fc streamed to the destination; manifest.json written last."""
        from platform_kit.backup.tasks import dump_task

        return dump_task(params, checked)

    @maintenance_task("verify", outlets=[METADB_BACKUP])
    def verify(dumped: dict, params=None, outlet_events=None) -> dict:
        """Re-read, check sha256, pg_restore --list (and the optional restore test); emits the Asset."""
        from platform_kit.backup.tasks import verify_task

        def set_extra(extra: dict) -> None:
            outlet_events[METADB_BACKUP].extra = extra

        return verify_task(params, dumped, set_asset_extra=set_extra)

    @maintenance_task("retention")
    def retention(dumped: dict, verified: dict, params=None, dag_run=None) -> dict:
        """Keep N daily / M weekly / K monthly verified backups; report the run."""
        from platform_kit.backup.tasks import retention_task

        return retention_task(params, dumped, verified, dag_run=dag_run)

    dumped = dump_and_upload(preflight())
    retention(dumped, verify(dumped))

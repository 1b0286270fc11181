"""Daily cleanup of Airflow's log files, local and remote (S3/GCS): per-DAG retention, size cap, dry run."""

from __future__ import annotations

import re

from airflow.sdk import Param

from platform_kit.defaults import LOG_MIN_AGE_MINUTES, LOG_RETENTION_DAYS, LOG_SIZE_FLOOR_HOURS
from platform_kit.maintenance import maintenance_dag, maintenance_task, optional_text_param, slack_param
from platform_kit.settings import log_cleanup_queues

DOC_MD = """
### Log cleanup (`platform_kit_log_cleanup`)

**When to use it**: local log files (`[logging] base_log_folder`) are never deleted by Airflow, not even
with remote logging, and a full log disk stops tasks. This DAG deletes old task logs
(`dag_id=/run_id=/task_id=/[map_index=/]attempt=N.log`), trigger logs (`*.log.trigger.<id>.log`),
executor callback logs and dag-processor logs (`dag_processor/YYYY-MM-DD/...`), then empty folders.
Both folders are read from the worker's configuration when the task runs. Trigger it once with
`dry_run` on and read the summary, then once with `dry_run` off.

**Params**
- `retention_days` + `retention_hours`: default age after which a log file goes (ages are exact, in
  seconds from the file's modification time; `find -mtime +30` really means 31 days).
- `dag_retention`: per-DAG retention in days, e.g. `{"noisy_dag": 3, "audit_dag": 365}`.
- `dag_processor_retention_days`: for the dag-processor tree; empty = the default retention.
- `max_size`: optional (empty = no cap) cap for the log folder, `10G`/`500M`/bytes or `80%` of its
  filesystem's size. Measured on the log folder itself (not `df`), so other data on a shared volume
  never causes log deletion. Above the cap the oldest files go first, but never files younger than
  `size_floor_hours`.
- `size_floor_hours`: the size cap never touches files younger than this (running tasks' logs).
- `min_age_minutes`: files (and empty folders) modified in the last N minutes are never deleted,
  whatever else says so. An `attempt=N.log` is also kept while its trigger log is kept (deferred tasks
  write only to the trigger log).
- `dry_run`: delete nothing; the summary reports exactly what a real run would delete.
- `fail_on_errors`: fail the task (after reporting) when some files could not be deleted.
- `slack_conn_id`: Slack connection to post the summary to; empty = no message.

**Summary** (task log and XCom `return_value`): files and bytes deleted, folders removed, files kept
and skipped, errors with samples, the top DAGs by size (what their logs took, what the run freed),
size-cap usage, duration, host. Sizes read `6.8 GiB (7,310,034,944 bytes)`.

**Dry run until confirmed**: a scheduled run deletes nothing (it runs as a dry run and says so) until a
person has triggered a real run by hand, which sets the Variable `platform_kit_log_cleanup_confirmed`.
Keep "Unpause on trigger" ticked for your first dry run: the scheduled run it starts is a dry run too.

**Remote logs** (task `clean_remote_logs`): when `[logging] remote_logging` is on and
`remote_base_log_folder` is an `s3://` or `gs://` folder, the same policy is applied to the objects
there, once per run, through the connection `remote_log_conn_id` (empty: `aws_default` /
`google_cloud_default`). Otherwise the task is skipped and says why.
- `clean_remote`: off = leave the remote folder alone (e.g. when a bucket lifecycle rule expires it).
- `remote_retention_days`: retention in the remote folder; empty = `retention_days`/`retention_hours`.
- `remote_dag_retention`: per-DAG retention there, e.g. `{"noisy_dag": 7}`; empty = `dag_retention`.
- `remote_allow_bucket_root`: a folder without a prefix (`s3://bucket`) is refused unless this is on.
`dag_processor_retention_days`, `min_age_minutes`, `dry_run`, `fail_on_errors` and `slack_conn_id` apply
to both. Only objects in Airflow's layout (`dag_id=*/`, `executor_callbacks/`, `dag_processor/`) named
`*.log` are judged, never a key outside the folder (`logs` does not match `logs-archive/`). Its summary
is the task's own XCom `return_value` (`roots` is the bucket URL).

**Safety**: never follows symlinks (`dag_processor/latest` and the folder it points at are kept),
never leaves the log folder or crosses into another filesystem, only deletes `*.log` files (and
executor callback logs), refuses `/`, system and home directories and folders that do not look like
Airflow logs. A `flock` lock on the log folder (released by the kernel when a run dies, so it cannot go
stale) plus `max_active_runs=1` stop two cleanups from overlapping; a second one fails at once.

**Workers with their own disks (Celery)**: a task only sees the disk of the worker that runs it. In
the compose sandbox `./logs` is shared by every container, so the single `clean_logs` task covers all.
When each worker host has its own log disk, give each host its own Celery queue
(`airflow celery worker -q default,host-a`) and list those queues in the Airflow setting
`[platform_kit] log_cleanup_queues = host-a,host-b` (env `AIRFLOW__PLATFORM_KIT__LOG_CLEANUP_QUEUES`)
on the dag-processor: the DAG then has one `clean_logs_<queue>` task per queue, each routed to its
host, each with its own summary. The list is read when the DAG file is parsed because a task's queue
cannot change per run. A host without a queue in the list is not cleaned; on Kubernetes run
`platform-kit logs clean` as a sidecar or CronJob per volume instead.
"""

# Parse-time configuration read (no DB): one task per Celery queue whose workers have their own disks.
QUEUES = log_cleanup_queues()

with maintenance_dag(
    "platform_kit_log_cleanup",
    description="Delete old Airflow log files, local and S3/GCS: per-DAG retention, size cap, dry run",
    doc_md=DOC_MD,
    tags=["logs"],
    params={
        "retention_days": Param(
            LOG_RETENTION_DAYS,
            type="number",
            minimum=0,
            maximum=3650,
            description="Delete log files older than this (days).",
        ),
        "retention_hours": Param(
            0,
            type="number",
            minimum=0,
            maximum=8760,
            description="Added to retention_days; set retention_days to 0 for sub-day retention.",
        ),
        "dag_retention": Param(
            {},
            type="object",
            additionalProperties={"type": "number", "minimum": 0},
            description='Per-DAG retention in days, e.g. {"noisy_dag": 3, "audit_dag": 365}.',
        ),
        "dag_processor_retention_days": Param(
            None,
            type=["null", "number"],
            minimum=0,
            maximum=3650,
            description="Retention (days) for dag-processor logs; empty = retention_days/hours.",
        ),
        "max_size": optional_text_param(
            "Optional cap for the log folder: 10G, 500M, bytes, or 80% of its filesystem; empty = no cap.",
            pattern=r"^(\s*|\d+(\.\d+)?\s*([KMGTkmgt]?(i?[Bb])?|%))$",
        ),
        "size_floor_hours": Param(
            LOG_SIZE_FLOOR_HOURS,
            type="number",
            minimum=0,
            maximum=8760,
            description="The size cap never deletes files younger than this many hours.",
        ),
        "min_age_minutes": Param(
            LOG_MIN_AGE_MINUTES,
            type="number",
            minimum=1,
            maximum=100000,
            description="Never delete files modified in the last N minutes, whatever the policy says.",
        ),
        "clean_remote": Param(
            True,
            type="boolean",
            description="Also clean [logging] remote_base_log_folder (S3/GCS) when remote logging is on.",
        ),
        "remote_retention_days": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            maximum=3650,
            description="Retention (days) in the remote log folder; empty = retention_days/hours.",
        ),
        "remote_dag_retention": Param(
            None,
            type=["null", "object"],
            additionalProperties={"type": "number", "minimum": 0},
            description='Per-DAG retention (days) in the remote folder, e.g. {"noisy_dag": 7}; '
            "empty = dag_retention.",
        ),
        "remote_allow_bucket_root": Param(
            False,
            type="boolean",
            description="Accept a remote folder without a prefix (s3://bucket): it holds only Airflow logs.",
        ),
        "dry_run": Param(False, type="boolean", description="Delete nothing; report what would be deleted."),
        "fail_on_errors": Param(
            True, type="boolean", description="Fail the task (after reporting) if some files could not go."
        ),
        **slack_param(),
    },
) as dag:

    @maintenance_task("clean_logs")
    def clean_logs(queue: str | None = None, params=None, dag_run=None) -> dict:
        """Clean this worker's log folders with the run's Params; return the summary."""
        from platform_kit.logcleanup.tasks import clean_logs_task

        return clean_logs_task(params, queue=queue, dag_run=dag_run)

    @maintenance_task("clean_remote_logs")
    def clean_remote_logs(params=None, dag_run=None) -> dict:
        """Clean the remote log folder (S3/GCS) once per run; skipped without remote logging."""
        from platform_kit.logcleanup.tasks import clean_remote_logs_task

        return clean_remote_logs_task(params, dag_run=dag_run)

    if not QUEUES:
        clean_logs()
    for queue_name in QUEUES:
        clean_logs.override(
            task_id=f"clean_logs_{re.sub(r'[^A-Za-z0-9_]', '_', queue_name)}", queue=queue_name
        )(queue=queue_name)
    clean_remote_logs()

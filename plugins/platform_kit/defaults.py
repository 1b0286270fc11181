"""Every default the kit ships, defined once.

The engines use these as their defaults, the DAG Params show them in the trigger form, and the CLI
options print them in ``--help``, so the three can never disagree. Plain constants: DAG files import this
module at parse time.
"""

from __future__ import annotations

# --- Connection ids -------------------------------------------------------------------------------------
#: The dedicated connection to the metadata DB (a task cannot use Airflow's own DB settings).
METADB_CONN_ID = "airflow_metadb"
AWS_CONN_ID = "aws_default"
GOOGLE_CONN_ID = "google_cloud_default"
#: http connection to the api-server with a service account (export's REST listing).
API_CONN_ID = "airflow_api"
#: generic connection holding the export encryption key in its password.
EXPORT_KEY_CONN_ID = "platform_kit_export_key"
SLACK_CONN_ID = "slack_default"

# --- Retention of backups and exports (grandfather-father-son over verified sets) ----------------------
KEEP_DAILY = 7
KEEP_WEEKLY = 4
KEEP_MONTHLY = 6
#: A set verified this recently is never deleted by another run's retention: the run that made it may still
#: be reporting it (two runs of one day overlap; the daily rule would keep only the newer).
RETENTION_GRACE_MINUTES = 60

# --- Object storage (S3 and GCS) ------------------------------------------------------------------------
# An endpoint that accepts connections but never answers must fail a call in about a minute, not hang for
# three: each request gets these timeouts and the whole call at most this many attempts. urllib3 also uses
# the connect timeout while it sends a request body, so one upload part (>= 8 MiB) or GCS chunk (16 MiB)
# must leave within it: links slower than ~1 MB/s raise it (S3: connection extra ``config_kwargs``).
STORAGE_CONNECT_TIMEOUT_SECONDS = 20
STORAGE_READ_TIMEOUT_SECONDS = 20
STORAGE_ATTEMPTS = 3
#: How long an interrupted or failed upload waits for the endpoint to confirm the abort before giving up
#: (the bucket's AbortIncompleteMultipartUpload rule then removes the parts). A healthy endpoint answers
#: in well under a second; Airflow kills a task 5 s after SIGTERM whatever this says.
STORAGE_ABORT_WAIT_SECONDS = 10

# --- Variable and connection export --------------------------------------------------------------------
#: ``db``: the metadata DB through ``airflow_metadb`` and the Fernet key (seconds at 10,000 entries);
#: ``sdk``: Task SDK + REST API only (no DB access, ~100x slower). docs/export.md says why.
EXPORT_MODE = "db"
EXPORT_MODES = ("db", "sdk")

# --- Metadata DB backup ---------------------------------------------------------------------------------
#: Tables whose rows are not dumped (their definitions are): core's archive and moved-rows tables.
BACKUP_EXCLUDE_TABLE_DATA = ("_airflow_deleted__*", "_airflow_moved__*")
BACKUP_LOCK_WAIT_TIMEOUT_SECONDS = 120
#: zlib level 1: 2.6x faster than pg_dump's 6 for about 10 % more bytes (docs/benchmarks.md).
BACKUP_COMPRESS_LEVEL = 1

# --- Log cleanup ----------------------------------------------------------------------------------------
LOG_RETENTION_DAYS = 30.0
LOG_MIN_AGE_MINUTES = 60.0
LOG_SIZE_FLOOR_HOURS = 24.0
#: ``AbortIncompleteMultipartUpload`` in the S3 lifecycle rule ``logs lifecycle`` writes for a log folder.
LIFECYCLE_ABORT_MULTIPART_DAYS = 7

# --- Metadata DB cleanup --------------------------------------------------------------------------------
DB_CLEAN_RETENTION_DAYS = 90
DB_CLEAN_BATCH_SIZE = 10_000

# --- Deadlines (missed-deadline alerts) -----------------------------------------------------------------
#: Minutes after a maintenance run is queued by which it should be done; 0 = no deadline. A run that is
#: still going then gets a missed-deadline alert, and a "finished late" follow-up when it ends.
BACKUP_DEADLINE_MINUTES = 120
LOG_CLEANUP_DEADLINE_MINUTES = 60
#: Deletes in batches after a backup: on a large metadata DB the first run can take hours.
DB_CLEANUP_DEADLINE_MINUTES = 180
EXPORT_DEADLINE_MINUTES = 60
#: What the deadline cluster policy gives a DAG that carries the chosen tag and declares no deadline.
DEADLINE_POLICY_MINUTES = 120
#: What a deadline counts from unless told: when the run was queued (``queued``) or its logical date.
DEADLINE_REFERENCE = "queued"
#: How often the triggerer asks a late run's state, to send the finished-late follow-up when it ends.
DEADLINE_FOLLOWUP_POLL_SECONDS = 10
#: How long it watches a late run at most (a run stuck for days gets no follow-up; 0 = no follow-up).
DEADLINE_FOLLOWUP_MAX_HOURS = 48

# --- Platform page, metrics, alert rules and the health monitor's dead man's switch ----------------------
#: Hours since the newest verified backup was taken after which backups count as stale: red on the
#: Platform page, the health monitor's dead man's switch, and ``PlatformKitBackupStale`` (26 h in
#: ``monitoring/prometheus/platform-kit-rules.yml``: a daily backup plus two hours of slack).
BACKUP_MAX_AGE_HOURS = 26.0
#: Hours without a successful run after which another maintenance DAG is amber on the Platform page.
MAINTENANCE_MAX_AGE_HOURS = 26.0
#: Log volume use (percent, from the last log cleanup) that turns its row amber, and red.
LOG_VOLUME_WARN_PERCENT = 85.0
LOG_VOLUME_CRITICAL_PERCENT = 95.0
#: Connection whose password is the bearer token the metrics endpoint requires; absent = no token.
METRICS_TOKEN_CONN_ID = "platform_kit_metrics"
#: Seconds between two listings of the backup bucket by the health monitor's dead man's switch.
BACKUP_CHECK_INTERVAL_SECONDS = 300.0

"""What a metadata-DB cleanup can be told: the options the DAG Params and the CLI flags map onto."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from platform_kit.dbclean.tables import validate_tables
from platform_kit.defaults import AWS_CONN_ID, DB_CLEAN_BATCH_SIZE, DB_CLEAN_RETENTION_DAYS, GOOGLE_CONN_ID
from platform_kit.exceptions import ConfigurationError
from platform_kit.version_compat import DB_CLEANUP_DAG_FILTER, DB_CLEANUP_DAG_FILTER_SINCE, require_airflow

#: Retention below this many days is refused: recent history is what people debug with.
MIN_RETENTION_DAYS = 1


class ArchiveMode(enum.StrEnum):
    """What happens to the rows core moves aside before deleting them."""

    #: ``--skip-archive``: no archive tables are kept (the verified backup holds the rows).
    SKIP = "skip"
    #: core's default: ``_airflow_deleted__<table>__<ts>`` tables stay in the metadata DB.
    KEEP = "keep"
    #: archive tables exported as CSV to object storage, read back, then dropped.
    EXPORT_AND_DROP = "export_and_drop"


@dataclass(frozen=True)
class CleanupOptions:
    """Everything a cleanup run can be told; the DAG Params and the CLI flags map onto it one to one.

    :param retention_days: rows older than this many days (by each table's cutoff column) are purged.
    :param tables: tables to clean; empty means :data:`~platform_kit.dbclean.tables.SAFE_TABLES`.
        Core adds dependent tables (e.g. ``dag_run`` pulls in ``task_instance``).
    :param dag_ids: only rows of these DAGs (tables without a usable ``dag_id`` are skipped). Airflow
        3.2+: core's cleanup has no DAG filter before, and the run is refused in one line.
    :param exclude_dag_ids: never rows of these DAGs (Airflow 3.2+, likewise).
    :param batch_size: rows per archive-and-delete transaction; ``None`` for one transaction per table.
    :param dry_run: count what would be purged, change nothing.
    :param archive: see :class:`ArchiveMode`.
    :param export_url: ``s3://`` / ``gs://`` destination for ``export_and_drop``.
    :param aws_conn_id: connection for ``s3://`` destinations.
    :param google_conn_id: connection for ``gs://`` destinations.
    :param now: the reference time (tests); defaults to the current UTC time.
    """

    retention_days: int = DB_CLEAN_RETENTION_DAYS
    tables: tuple[str, ...] = ()
    dag_ids: tuple[str, ...] = ()
    exclude_dag_ids: tuple[str, ...] = ()
    batch_size: int | None = DB_CLEAN_BATCH_SIZE
    dry_run: bool = False
    archive: ArchiveMode = ArchiveMode.KEEP
    export_url: str | None = None
    aws_conn_id: str | None = AWS_CONN_ID
    google_conn_id: str | None = GOOGLE_CONN_ID
    now: datetime | None = field(default=None, compare=False)

    def validated(self) -> CleanupOptions:
        """A copy with normalised fields. :raises ConfigurationError: one line saying what to fix."""
        if int(self.retention_days) < MIN_RETENTION_DAYS:
            raise ConfigurationError(
                f"retention_days must be at least {MIN_RETENTION_DAYS}, got {self.retention_days}"
            )
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ConfigurationError(f"batch_size must be a positive number of rows, got {self.batch_size}")
        archive = ArchiveMode(self.archive)
        overlap = sorted(set(self.dag_ids) & set(self.exclude_dag_ids))
        if overlap:
            raise ConfigurationError(f"dag ids both included and excluded: {overlap}")
        if self.dag_ids or self.exclude_dag_ids:
            require_airflow(
                DB_CLEANUP_DAG_FILTER_SINCE,
                DB_CLEANUP_DAG_FILTER,
                "upgrade Airflow to 3.2+ or clean without dag_ids / exclude_dag_ids",
            )
        if archive is ArchiveMode.EXPORT_AND_DROP and not self.export_url:
            raise ConfigurationError(
                "archive mode export_and_drop needs an export URL (s3://bucket/prefix or gs://...)"
            )
        return CleanupOptions(
            retention_days=int(self.retention_days),
            tables=tuple(validate_tables(self.tables)),
            dag_ids=tuple(sorted(set(self.dag_ids))),
            exclude_dag_ids=tuple(sorted(set(self.exclude_dag_ids))),
            batch_size=int(self.batch_size) if self.batch_size else None,
            dry_run=bool(self.dry_run),
            archive=archive,
            export_url=self.export_url or None,
            aws_conn_id=self.aws_conn_id,
            google_conn_id=self.google_conn_id,
            now=self.now,
        )

    @property
    def clean_before(self) -> datetime:
        """The cutoff: rows strictly older than this are purged."""
        now = self.now or datetime.now(UTC)
        return now - timedelta(days=self.retention_days)

"""The maintenance DAGs the Platform page and the metrics report on, and where each keeps its summary.

The DAG ids are the bundle's own (``dags/maintenance/``); ``tests/unit/test_status_catalog.py`` fails if a
maintenance DAG is added there without being listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

BACKUP = "backup"
LOG_CLEANUP = "log_cleanup"
EXPORT = "export"
DB_CLEANUP = "db_cleanup"


@dataclass(frozen=True)
class MaintenanceDag:
    """One maintenance DAG as the Platform page knows it.

    :param dag_id: the DAG id.
    :param kind: which summary renderer and verdict rules apply (``backup``, ``log_cleanup``, ...).
    :param title: the row's name on the page.
    :param summary_tasks: task ids whose XCom ``return_value`` holds (part of) the run summary; an id
        ending in ``*`` is a prefix (log cleanup runs one task per Celery queue).
    :param report_task: the task whose log shows the run summary (the row's "log" link).
    """

    dag_id: str
    kind: str
    title: str
    summary_tasks: tuple[str, ...]
    report_task: str

    def holds_summary(self, task_id: str) -> bool:
        """True if ``task_id`` is one of the tasks whose XCom carries this DAG's summary."""
        return any(
            task_id.startswith(pattern[:-1]) if pattern.endswith("*") else task_id == pattern
            for pattern in self.summary_tasks
        )


#: The backup task that succeeds only once a backup is uploaded and verified.
BACKUP_VERIFY_TASK = "verify"

MAINTENANCE_DAGS: tuple[MaintenanceDag, ...] = (
    MaintenanceDag(
        "platform_kit_metadb_backup",
        BACKUP,
        "Metadata DB backup",
        ("dump_and_upload", BACKUP_VERIFY_TASK, "retention"),
        "retention",
    ),
    MaintenanceDag(
        "platform_kit_log_cleanup",
        LOG_CLEANUP,
        "Log cleanup",
        ("clean_logs*", "clean_remote_logs"),
        "clean_logs",
    ),
    MaintenanceDag("platform_kit_export", EXPORT, "Variable and connection export", ("export",), "export"),
    MaintenanceDag("platform_kit_metadb_cleanup", DB_CLEANUP, "Metadata DB cleanup", ("clean",), "clean"),
)

BY_DAG_ID = {dag.dag_id: dag for dag in MAINTENANCE_DAGS}
BACKUP_DAG = BY_DAG_ID["platform_kit_metadb_backup"]

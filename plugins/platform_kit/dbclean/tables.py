"""Which metadata tables ``airflow db clean`` can purge on this Airflow, by which column, and which are safe.

The catalogue differs between Airflow minors (3.3 replaced ``callback_request`` and ``sla_miss`` with
``callback`` and added three tables); :func:`platform_kit.version_compat.db_cleanup_tables` holds it per
minor, so DAG files and the CLI can validate input without importing core's cleanup module (which needs a
configured database). A unit test compares it with core's ``config_list`` on every minor of the matrix.
"""

from __future__ import annotations

from platform_kit.version_compat import db_cleanup_tables

#: Every table core can clean on this Airflow -> the column compared with the cutoff. ``session`` exists
#: only with FAB's database session backend; tables absent from a deployment are skipped and reported
#: "missing".
CUTOFF_COLUMNS: dict[str, str] = db_cleanup_tables()

ALL_TABLES: tuple[str, ...] = tuple(sorted(CUTOFF_COLUMNS))

#: Tables left out of the default set, and why. Each can still be selected explicitly.
UNSAFE_TABLES: dict[str, str] = {
    "dag": (
        "a DAG whose file was not parsed recently (paused, moved, bundle outage) loses its row and, by "
        "cascade, its versions and deadlines; reported to fail on 3.0 (#52147)"
    ),
    "dag_version": (
        "deletes cascade to task_instance and dag_run; foreign-key failures were reported through 3.3.0 "
        "(#56192, #61390, #63703, #71864) and old versions are what the UI needs to show old runs"
    ),
    "trigger": (
        "task_instance.trigger_id is ON DELETE CASCADE: a trigger older than the retention belongs to a "
        "task that is still deferred, and purging it deletes that running task instance"
    ),
}

#: The default selection: everything core cleans except :data:`UNSAFE_TABLES`.
SAFE_TABLES: tuple[str, ...] = tuple(name for name in ALL_TABLES if name not in UNSAFE_TABLES)


def validate_tables(tables: list[str] | tuple[str, ...] | None) -> list[str]:
    """The selection as a sorted list; :data:`SAFE_TABLES` when empty.

    :raises ValueError: one line naming every unknown table and the valid choices.
    """
    if not tables:
        return list(SAFE_TABLES)
    unknown = sorted(set(tables) - set(ALL_TABLES))
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; choose from {list(ALL_TABLES)}")
    return sorted(set(tables))

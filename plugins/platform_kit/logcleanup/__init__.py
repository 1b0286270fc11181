"""Airflow log cleanup: a plain-Python engine driven by the ``platform-kit logs clean`` CLI and a DAG.

Nothing here imports Airflow except :mod:`platform_kit.logcleanup.tasks`, the thin task adapter.
"""

from platform_kit.logcleanup.engine import UnsafeRootError, clean_logs, validate_root
from platform_kit.logcleanup.lock import LockBusyError
from platform_kit.logcleanup.policy import (
    PolicyError,
    RetentionPolicy,
    SizeCap,
    parse_dag_retention,
    parse_size,
)
from platform_kit.logcleanup.report import CleanupReport

__all__ = [
    "CleanupReport",
    "LockBusyError",
    "PolicyError",
    "RetentionPolicy",
    "SizeCap",
    "UnsafeRootError",
    "clean_logs",
    "parse_dag_retention",
    "parse_size",
    "validate_root",
]

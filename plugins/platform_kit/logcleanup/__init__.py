"""Airflow log cleanup: a plain-Python engine driven by the ``platform-kit logs clean`` CLI and a DAG.

Nothing here imports Airflow except :mod:`platform_kit.logcleanup.tasks`, the thin task adapter.
"""

from platform_kit.exceptions import LockBusyError, PolicyError, UnsafeRootError
from platform_kit.logcleanup.engine import clean_logs
from platform_kit.logcleanup.policy import (
    RetentionPolicy,
    SizeCap,
    parse_dag_retention,
    parse_size,
)
from platform_kit.logcleanup.report import CleanupReport
from platform_kit.logcleanup.roots import validate_root

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

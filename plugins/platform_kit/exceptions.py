"""Every exception platform-kit raises on purpose, in one place.

An *expected* failure (a missing connection, a bucket that refuses writes, an unsafe log root, a
database that is not Airflow's) is a :class:`PlatformKitError` whose message is one line saying what
went wrong and what to do. Two adapters turn it into what the user sees, and nothing else catches it:

* in a task, :func:`platform_kit.adapters.task_failures` turns it into a clean task failure (no
  traceback, no retry);
* in the shell, :func:`platform_kit.cli.main` prints ``platform-kit: error: <message>`` and exits 2.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any


class PlatformKitError(Exception):
    """An expected failure; ``str(exc)`` is one line: what went wrong and what to do about it."""


class ConfigurationError(PlatformKitError, ValueError):
    """A Param, option, setting or connection field has a value the kit cannot use."""


class ConnectionLookupError(PlatformKitError):
    """A connection is missing, or exists with the wrong type; the message names it and the fix."""


class AirflowCompatError(PlatformKitError):
    """An Airflow internal the kit relies on is missing or changed in this Airflow version.

    Raised by :mod:`platform_kit.version_compat` before the feature does anything, so a feature never
    misbehaves on a guess.
    """


class StorageError(PlatformKitError):
    """Something about the object-storage destination is wrong (URL, bucket, permissions, object)."""


class BackupError(PlatformKitError):
    """A backup, verification or restore could not proceed."""


class ExportError(PlatformKitError):
    """A variable and connection export, decryption or import could not proceed."""


class ExportKeyError(ExportError):
    """The export key is missing, malformed or not the key the file was encrypted with."""


class ExportDecryptionError(ExportError):
    """An export file is damaged or was not encrypted with this key."""


class LogCleanupError(PlatformKitError):
    """The log cleanup could not start, or finished with errors."""


class PolicyError(LogCleanupError, ValueError):
    """A log retention or size option is invalid."""


class UnsafeRootError(LogCleanupError, ValueError):
    """The folder given to the log cleanup is not one it may delete in."""


class LockBusyError(LogCleanupError):
    """Another log cleanup holds the lock on this folder."""


class DbCleanupError(PlatformKitError):
    """The metadata-DB cleanup could not run, or a table failed.

    :param summary: what was done before the failure (per-table counts), reported with the error.
    """

    def __init__(self, message: str, summary: dict[str, Any] | None = None):
        super().__init__(message)
        self.summary = summary or {}


class AlertConfigError(ConfigurationError):
    """An alert connection exists but cannot be used (wrong type, empty webhook, bad timeouts)."""

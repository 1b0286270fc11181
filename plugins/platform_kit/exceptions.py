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


class StorageConflictError(StorageError):
    """A conditional write lost: the object was created, changed or deleted by someone else meanwhile.

    Raised instead of overwriting: a backup or export never replaces an object it did not write.
    """


class BackupError(PlatformKitError):
    """A backup, verification or restore could not proceed."""


class ExportError(PlatformKitError):
    """A variable and connection export, decryption or import could not proceed."""


class ExportKeyError(ExportError):
    """The export key is missing, malformed or not the key the file was encrypted with."""


class ExportDecryptionError(ExportError):
    """An export file is damaged or was not encrypted with this key."""


class ExportImportError(ExportError):
    """An import through the REST API stopped part-way.

    :param outcome: exactly which variables and connections were written and which were not.
    """

    def __init__(self, message: str, outcome: dict[str, Any]):
        super().__init__(message)
        self.outcome = outcome


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


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived while a command or task ran (see :mod:`platform_kit.interrupts`).

    Deliberately *not* a :class:`PlatformKitError` (nor an ``Exception``): it must pass through every
    ``except Exception`` on its way out, so only ``finally`` blocks and ``except BaseException`` cleanup
    paths (abort the upload, stop ``pg_dump``, drop the scratch database) see it.

    :param signum: the signal that arrived.
    :ivar cleaned_up: what the cleanup paths did on the way out, for the one line the user sees.
    """

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        self.cleaned_up: list[str] = []
        super().__init__(self.signal_name)

    def note(self, what: str) -> None:
        """Record one thing a cleanup path did (``"upload aborted"``), shown after the signal name."""
        if what not in self.cleaned_up:
            self.cleaned_up.append(what)

    def __str__(self) -> str:
        done = f"; {', '.join(self.cleaned_up)}" if self.cleaned_up else ""
        return f"interrupted by {self.signal_name}{done}"


class AlertConfigError(ConfigurationError):
    """An alert connection exists but cannot be used (wrong type, empty webhook, bad timeouts)."""

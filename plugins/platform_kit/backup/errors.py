"""The exception the backup engine raises for expected failures."""

from __future__ import annotations


class BackupError(Exception):
    """A backup, verification or restore could not proceed; the message is one line naming the fix."""

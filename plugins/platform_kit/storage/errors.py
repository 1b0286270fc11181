"""The one exception type the storage layer raises for expected failures."""

from __future__ import annotations


class StorageError(Exception):
    """Something about the destination is wrong; the message is one line saying what and what to do."""

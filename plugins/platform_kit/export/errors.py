"""The one exception type the export engine raises for expected failures."""

from __future__ import annotations


class ExportError(Exception):
    """An expected failure, worded as one line: what went wrong and what to do about it."""

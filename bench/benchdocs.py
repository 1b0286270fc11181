"""Shared by the ``bench/`` commands: each writes only its own section of ``docs/benchmarks.md``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEach section is written by its `bench/` command.\n"


def write_section(section: str, text: str, docs: Path = DOCS) -> None:
    """Replace the ``section`` heading's block (up to the next ``## ``) with ``text``, or append it.

    :param section: the heading line, e.g. ``"## Alerting"``; ``text`` must start with it.
    :param text: the whole section, heading included.
    :param docs: the file to edit (created with a short header when missing).
    """
    current = docs.read_text() if docs.exists() else HEADER
    lines = current.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == section), None)
    if start is None:
        docs.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    docs.write_text("".join(lines[:start]) + text + ("\n" if end < len(lines) else "") + "".join(lines[end:]))


def publish(section: str, text: str, write_docs: bool = True) -> None:
    """Print a run's section and, unless told not to, write it to ``docs/benchmarks.md``.

    :param section: the heading line, e.g. ``"## Alerting"``.
    :param text: the whole section, heading included.
    :param write_docs: ``False`` for a trial run (the commands' ``--no-docs``/``--no-write``).
    """
    print(text)
    if write_docs:
        write_section(section, text)


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """The one command that reproduces a run, as each section records it.

    :param script: the file name under ``bench/``, e.g. ``"bench_dbclean.py"``.
    :param argv: the arguments given (default: this process's).
    """
    args = list(argv if argv is not None else sys.argv[1:])
    return " ".join(["uv run --frozen python", f"bench/{script}", *args])

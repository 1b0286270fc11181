"""``platform-kit``: the operators' command line.

Each area of the bundle contributes a subcommand group through a ``register(subparsers)`` function in
its own ``cli`` module, so this file only lists them.

What every command shares is decided here, once:

* **stdout carries only the result.** A handler writes its result to ``args.results``; anything else that
  prints while it runs (Airflow's logging, which writes to stdout, provider warnings, progress) goes to
  stderr, so ``platform-kit ... --json | jq`` always parses (:func:`platform_kit.shell.stdout_for_result`).
* **An expected failure is one line** on stderr, ``platform-kit: error: ...``, exit code 2.
* **SIGTERM and SIGINT end the command through its cleanup paths** (:mod:`platform_kit.interrupts`):
  one line, ``platform-kit: interrupted by SIGTERM; upload aborted, ...``, exit code 128 + signal.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from platform_kit import __version__
from platform_kit.exceptions import PlatformKitError, RunInterrupted
from platform_kit.interrupts import exit_code, stop_on_signals
from platform_kit.shell import prepare_shell, stdout_for_result

# Modules exposing ``register(subparsers: argparse._SubParsersAction) -> None``.
COMMAND_MODULES: list[str] = [
    "platform_kit.export.cli",
    "platform_kit.logcleanup.cli",
    "platform_kit.dbclean.cli",
    "platform_kit.backup.cli",
    "platform_kit.alerts.cli",
    "platform_kit.health.cli",
]


def print_result(out: TextIO, title: str, data: Any, *, as_json: bool) -> None:
    """Print a command's result: JSON, or the title and one ``key: value`` line per entry (as run
    summaries are logged)."""
    if as_json:
        json.dump(data, out, indent=2, default=str)
        out.write("\n")
    else:
        from platform_kit.summary import format_summary

        print(format_summary(title, data), file=out)


def add_metadb_arguments(parser: argparse.ArgumentParser) -> None:
    """``--conn-id`` / ``--dsn``: where a command finds the metadata DB.

    Resolved by :func:`metadb_url_from_args`; ``PLATFORM_KIT_METADB_DSN`` works like ``--dsn`` without
    showing in ``ps``.
    """
    from platform_kit.dburl import DSN_ENV
    from platform_kit.defaults import METADB_CONN_ID

    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--conn-id",
        default=METADB_CONN_ID,
        help=f"Airflow connection (conn type postgres) of the metadata DB (default {METADB_CONN_ID})",
    )
    source.add_argument(
        "--dsn",
        help=f"PostgreSQL URL of the metadata DB; visible in `ps`, prefer the {DSN_ENV} environment variable",
    )


def metadb_url_from_args(args: argparse.Namespace) -> str:
    """The SQLAlchemy URL of the metadata DB named by :func:`add_metadb_arguments`' options."""
    from platform_kit.dburl import DSN_ENV, dsn_from_environment, metadb_url

    return metadb_url(
        args.conn_id,
        dsn=args.dsn or dsn_from_environment(),
        purpose=f"metadata DB; or set {DSN_ENV} to its URL",
    )


def metadb_source_from_args(args: argparse.Namespace) -> str:
    """Where :func:`metadb_url_from_args` took the URL from, for error messages (never the URL)."""
    from platform_kit.dburl import DSN_ENV, dsn_from_environment

    if args.dsn:
        return "--dsn"
    return DSN_ENV if dsn_from_environment() else f"connection {args.conn_id!r}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platform-kit",
        description="Operate Airflow maintenance from a shell: the same engines the platform-kit DAGs use.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also show Airflow's and the providers' INFO logs"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        # Signals first: from the moment a throwaway Airflow home exists, a SIGTERM (how a long-running
        # ``health watch`` is stopped) must end in a normal exit so the home is removed.
        with stop_on_signals():
            # Before anything imports Airflow: a shell without an Airflow home must not get ~/airflow.
            prepare_shell(verbose=args.verbose)
            with stdout_for_result() as args.results:  # the command's result, and nothing else
                return int(handler(args) or 0)
    except PlatformKitError as exc:
        # The one place an expected failure meets the shell: one line on stderr, exit code 2.
        print(f"platform-kit: error: {exc}", file=sys.stderr)
        return 2
    except RunInterrupted as exc:
        # The cleanup paths ran on the way here; say what they did, in one line.
        print(f"platform-kit: {exc}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())

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
import sys
from collections.abc import Sequence

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

"""``platform-kit``: the operators' command line.

Each area of the bundle contributes a subcommand group through a ``register(subparsers)`` function in
its own ``cli`` module, so this file only lists them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from platform_kit import __version__
from platform_kit.exceptions import PlatformKitError
from platform_kit.shell import prepare_shell

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
    # Before anything imports Airflow: a shell without an Airflow home must not get ~/airflow created.
    prepare_shell(verbose=args.verbose)
    try:
        return int(handler(args) or 0)
    except PlatformKitError as exc:
        # The one place an expected failure meets the shell: one line on stderr, exit code 2.
        print(f"platform-kit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

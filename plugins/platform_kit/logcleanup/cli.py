"""``platform-kit logs clean ROOT``: the log cleanup engine from a shell, cron job or Kubernetes sidecar.

Exit codes: 0 done, 1 done but some files or directories could not be handled (see ``errors``),
2 nothing was done (bad option, unsafe root, another cleanup running).
"""

from __future__ import annotations

import argparse
import json
import sys

from platform_kit.defaults import LOG_MIN_AGE_MINUTES, LOG_RETENTION_DAYS, LOG_SIZE_FLOOR_HOURS
from platform_kit.logcleanup.engine import clean_logs
from platform_kit.logcleanup.policy import RetentionPolicy, parse_dag_retention, parse_size
from platform_kit.summary import format_summary


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``logs clean`` to the ``platform-kit`` parser."""
    logs = subparsers.add_parser("logs", help="Airflow log folder maintenance")
    actions = logs.add_subparsers(dest="logs_command", metavar="COMMAND")
    clean = actions.add_parser(
        "clean",
        help="delete old Airflow log files (dry run first!)",
        description="Delete old *.log files under an log folder: per-DAG retention, optional size cap.",
    )
    clean.add_argument(
        "root", metavar="ROOT", help="the [logging] base_log_folder (or a dag_processor folder)"
    )
    clean.add_argument(
        "--retention-days",
        type=float,
        default=None,
        help=f"delete logs older than this many days (default {LOG_RETENTION_DAYS:g}, or 0 when only "
        "--retention-hours is given)",
    )
    clean.add_argument(
        "--retention-hours",
        type=float,
        default=None,
        help="added to --retention-days; alone for sub-day retention",
    )
    clean.add_argument(
        "--dag-retention",
        metavar="JSON",
        default=None,
        help='per-DAG retention in days, e.g. \'{"noisy_dag": 3, "audit_dag": 365}\'',
    )
    clean.add_argument(
        "--dag-processor-retention-days",
        type=float,
        default=None,
        help="retention for dag-processor logs (default: the general retention)",
    )
    clean.add_argument(
        "--dag-processor-dir",
        default=None,
        help="[logging] dag_processor_child_process_log_directory when it is not ROOT/dag_processor",
    )
    clean.add_argument(
        "--max-size",
        default=None,
        help="cap the bytes under ROOT: 10G, 500M, 1048576 or 80%% (of the filesystem); oldest go first",
    )
    clean.add_argument(
        "--size-floor-hours",
        type=float,
        default=LOG_SIZE_FLOOR_HOURS,
        help="the size cap never deletes files younger than this (default %(default)g)",
    )
    clean.add_argument(
        "--min-age-minutes",
        type=float,
        default=LOG_MIN_AGE_MINUTES,
        help="never delete files modified in the last N minutes, whatever else applies (default %(default)g)",
    )
    clean.add_argument("--dry-run", action="store_true", help="delete nothing; report what would be deleted")
    clean.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    clean.add_argument(
        "--allow-any-layout",
        action="store_true",
        help="accept a ROOT without Airflow's layout (custom log_filename_template); / and homes are refused",
    )
    clean.set_defaults(handler=_clean)


def policy_from_args(args: argparse.Namespace) -> RetentionPolicy:
    """Build the policy from parsed options; raises :class:`PolicyError` on bad values."""
    days, hours = args.retention_days, args.retention_hours
    if days is None:
        days = 0.0 if hours else LOG_RETENTION_DAYS
    return RetentionPolicy(
        retention_days=days,
        retention_hours=hours or 0.0,
        dag_retention_days=parse_dag_retention(args.dag_retention),
        dag_processor_retention_days=args.dag_processor_retention_days,
        max_size=parse_size(args.max_size),
        size_floor_hours=args.size_floor_hours,
        min_age_minutes=args.min_age_minutes,
    )


def _clean(args: argparse.Namespace) -> int:
    report = clean_logs(
        args.root,
        policy_from_args(args),
        dag_processor_folder=args.dag_processor_dir,
        dry_run=args.dry_run,
        allow_any_layout=args.allow_any_layout,
    )
    summary = report.as_dict()
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_summary(report.title(), summary))
    print(f"platform-kit logs clean: {report.outcome_line()}", file=sys.stderr)
    return 1 if report.errors else 0

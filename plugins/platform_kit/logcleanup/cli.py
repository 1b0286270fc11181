"""``platform-kit logs clean ROOT`` and ``logs lifecycle URL``: log cleanup from a shell, cron job or
Kubernetes sidecar, on a local folder or a remote (S3/GCS) log folder.

Exit codes: 0 done, 1 done but some files, directories or objects could not be handled (see ``errors``),
2 nothing was done (bad option, unsafe root, another cleanup running).
"""

from __future__ import annotations

import argparse
import json
import sys

from platform_kit.defaults import (
    AWS_CONN_ID,
    GOOGLE_CONN_ID,
    LOG_MIN_AGE_MINUTES,
    LOG_RETENTION_DAYS,
    LOG_SIZE_FLOOR_HOURS,
)
from platform_kit.exceptions import ConfigurationError
from platform_kit.logcleanup.engine import clean_logs
from platform_kit.logcleanup.policy import RetentionPolicy, parse_dag_retention, parse_size
from platform_kit.logcleanup.report import CleanupReport
from platform_kit.summary import format_summary


def is_remote(root: str) -> bool:
    """Whether ``root`` names a bucket folder (``s3://``, ``gs://``, or another scheme that is refused)."""
    return "://" in root


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--aws-conn-id",
        default=AWS_CONN_ID,
        help="aws connection for s3:// URLs (default %(default)s; [logging] remote_log_conn_id)",
    )
    parser.add_argument(
        "--google-conn-id",
        default=GOOGLE_CONN_ID,
        help="google_cloud_platform connection for gs:// URLs (default %(default)s)",
    )
    parser.add_argument(
        "--allow-bucket-root",
        action="store_true",
        help="accept s3://bucket or gs://bucket without a prefix (the bucket holds nothing but Airflow logs)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``logs clean`` and ``logs lifecycle`` to the ``platform-kit`` parser."""
    logs = subparsers.add_parser("logs", help="Airflow log folder maintenance (local folders and buckets)")
    actions = logs.add_subparsers(dest="logs_command", metavar="COMMAND")
    clean = actions.add_parser(
        "clean",
        help="delete old Airflow log files or log objects (dry run first!)",
        description="Delete old Airflow logs under a log folder or a bucket prefix (remote logging): "
        "per-DAG retention, dag-processor retention, a min-age guard, optional size cap (local only).",
    )
    clean.add_argument(
        "root",
        metavar="ROOT",
        help="the [logging] base_log_folder (or a dag_processor folder), or the remote_base_log_folder: "
        "s3://bucket/prefix or gs://bucket/prefix",
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
        help="[logging] dag_processor_child_process_log_directory when it is not ROOT/dag_processor "
        "(local ROOT only)",
    )
    clean.add_argument(
        "--max-size",
        default=None,
        help="cap the bytes under ROOT: 10G, 500M, 1048576 or 80%% (of the filesystem); oldest go first "
        "(local ROOT only)",
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
        help="accept a ROOT without Airflow's layout (custom log_filename_template); / and homes are "
        "refused. In a bucket: also judge *.log objects outside dag_id=*/, dag_processor/...",
    )
    _connection_options(clean)
    clean.set_defaults(handler=_clean)

    lifecycle = actions.add_parser(
        "lifecycle",
        help="print (or --apply) the bucket lifecycle rule that expires a remote log folder",
        description="Print the bucket lifecycle rule that expires the logs under URL after --days (S3: "
        "expiration + AbortIncompleteMultipartUpload; GCS: an age condition), and what such a rule cannot "
        "express of `logs clean`'s policy. --apply sets it, keeping the bucket's other rules.",
    )
    lifecycle.add_argument("url", metavar="URL", help="s3://bucket/prefix or gs://bucket/prefix")
    lifecycle.add_argument("--days", type=int, required=True, help="expire objects after N whole days")
    lifecycle.add_argument(
        "--dag-retention",
        metavar="JSON",
        default=None,
        help="per-DAG retention in days; shorter ones than --days get rules of their own",
    )
    lifecycle.add_argument(
        "--dag-processor-retention-days",
        type=float,
        default=None,
        help="retention for URL/dag_processor/ (a rule of its own when shorter than --days)",
    )
    lifecycle.add_argument(
        "--apply",
        action="store_true",
        help="set the rules on the bucket (without it nothing is read or written)",
    )
    lifecycle.add_argument("--json", action="store_true", help="print the plan as JSON on stdout")
    _connection_options(lifecycle)
    lifecycle.set_defaults(handler=_lifecycle)


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
    report = _run_clean(args)  # Airflow's warnings go to stderr: cli.main keeps stdout for args.results
    summary = report.as_dict()
    if args.json:
        json.dump(summary, args.results, indent=2)
        args.results.write("\n")
    else:
        print(format_summary(report.title(), summary), file=args.results)
    print(f"platform-kit logs clean: {report.outcome_line()}", file=sys.stderr)
    return 1 if report.errors else 0


def _run_clean(args: argparse.Namespace) -> CleanupReport:
    policy = policy_from_args(args)
    if is_remote(args.root):
        from platform_kit.logcleanup.remote import clean_remote_logs

        if args.dag_processor_dir:
            raise ConfigurationError(
                "--dag-processor-dir applies to a local ROOT; in a bucket the dag_processor/ folder under "
                "the prefix gets --dag-processor-retention-days"
            )
        report = clean_remote_logs(
            args.root,
            policy,
            dry_run=args.dry_run,
            allow_any_layout=args.allow_any_layout,
            allow_bucket_root=args.allow_bucket_root,
            aws_conn_id=args.aws_conn_id,
            google_conn_id=args.google_conn_id,
        )
    else:
        report = clean_logs(
            args.root,
            policy,
            dag_processor_folder=args.dag_processor_dir,
            dry_run=args.dry_run,
            allow_any_layout=args.allow_any_layout,
        )
    return report


def _lifecycle(args: argparse.Namespace) -> int:
    from platform_kit.logcleanup.lifecycle import apply_lifecycle, plan_lifecycle

    plan = plan_lifecycle(
        args.url,
        args.days,
        dag_retention=args.dag_retention,
        dag_processor_retention_days=args.dag_processor_retention_days,
        allow_bucket_root=args.allow_bucket_root,
    )
    result = {**plan.as_dict(), "applied": False}
    if args.apply:
        from platform_kit.storage.clients import open_store

        store, _ = open_store(plan.location, aws_conn_id=args.aws_conn_id, google_conn_id=args.google_conn_id)
        store.check_bucket()
        applied = apply_lifecycle(store, plan)
        result.update(
            applied=True, kept_rules=applied["kept_rules"], replaced_rules=applied["replaced_rules"]
        )
        result["notes"] = [*plan.notes, *applied["notes"]]
    if args.json:
        json.dump(result, args.results, indent=2)
        args.results.write("\n")
        return 0
    state = (
        f"applied; the bucket's {result['kept_rules']} other rules kept"
        if args.apply
        else "not applied: run again with --apply to set it"
    )
    out = args.results
    print(f"Lifecycle rules for {plan.location} ({state}):", file=out)
    print(json.dumps(plan.rules, indent=2), file=out)
    print("What these rules cannot do that `platform-kit logs clean` does:", file=out)
    for line in plan.cannot_express:
        print(f"  - {line}", file=out)
    if result["notes"]:
        print("Notes:", file=out)
        for line in result["notes"]:
            print(f"  - {line}", file=out)
    return 0

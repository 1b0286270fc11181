"""``platform-kit health watch``: the health monitor the compose sandbox runs as a service."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from platform_kit.defaults import (
    AWS_CONN_ID,
    BACKUP_CHECK_INTERVAL_SECONDS,
    BACKUP_MAX_AGE_HOURS,
    GOOGLE_CONN_ID,
    SLACK_CONN_ID,
)
from platform_kit.settings import BACKUP_URL_VARIABLE


def register(subparsers: argparse._SubParsersAction) -> None:
    health = subparsers.add_parser("health", help="watch Airflow's health endpoint")
    commands = health.add_subparsers(dest="health_command", metavar="COMMAND", required=True)
    watch = commands.add_parser(
        "watch",
        help="poll /api/v2/monitor/health and alert on Slack when a component turns unhealthy or recovers, "
        "and when the newest verified backup gets too old (and when a fresh one arrives)",
    )
    watch.add_argument("--api-url", default="http://localhost:8080", help="the api-server base URL")
    watch.add_argument("--slack-conn-id", default=SLACK_CONN_ID, help="slackwebhook connection to post to")
    watch.add_argument("--interval", type=float, default=15, help="seconds between polls (default 15)")
    watch.add_argument(
        "--confirmations",
        type=int,
        default=2,
        help="readings in a row before a change is alerted (default 2)",
    )
    watch.add_argument("--heartbeat-file", type=Path, help="file touched after every poll (healthchecks)")
    backups = watch.add_argument_group(
        "dead man's switch", "reads the backups' manifests in the bucket; needs no Prometheus and no Airflow"
    )
    backups.add_argument(
        "--backup-url",
        help=f"s3://bucket/prefix or gs://... of the backups (default: the Variable {BACKUP_URL_VARIABLE} "
        "when this shell sees it, e.g. as AIRFLOW_VAR_PLATFORM_KIT_BACKUP_URL; 'off' to disable)",
    )
    backups.add_argument(
        "--backup-max-age-hours",
        type=float,
        default=BACKUP_MAX_AGE_HOURS,
        help="alert when the newest verified backup is older than this (default %(default)g)",
    )
    backups.add_argument(
        "--backup-interval",
        type=float,
        default=BACKUP_CHECK_INTERVAL_SECONDS,
        help="seconds between two listings of the bucket (default %(default)g)",
    )
    backups.add_argument("--aws-conn-id", default=AWS_CONN_ID, help="connection for s3:// backup URLs")
    backups.add_argument("--google-conn-id", default=GOOGLE_CONN_ID, help="connection for gs:// backup URLs")
    watch.set_defaults(handler=_watch)


def _backup_url(given: str | None) -> str | None:
    """The URL the dead man's switch watches: ``--backup-url``, else the backup Variable, else none."""
    if given:
        return None if given.strip().lower() == "off" else given.strip()
    from platform_kit.exceptions import StorageError
    from platform_kit.storage import resolve_destination

    try:
        return resolve_destination(None, BACKUP_URL_VARIABLE)
    except StorageError:
        return None


def _watch(args: argparse.Namespace) -> int:
    from functools import partial

    from platform_kit.health.backups import read_backups
    from platform_kit.health.monitor import notify_slack, watch
    from platform_kit.storage import parse_url

    if args.backup_max_age_hours <= 0 or args.backup_interval <= 0:
        from platform_kit.exceptions import ConfigurationError

        raise ConfigurationError("--backup-max-age-hours and --backup-interval must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    url = _backup_url(args.backup_url)
    check = None
    if url:
        parse_url(url)  # a typo fails now, in one line, not at the first check
        check = partial(
            read_backups,
            url,
            max_age_hours=args.backup_max_age_hours,
            aws_conn_id=args.aws_conn_id,
            google_conn_id=args.google_conn_id,
        )
        switch = f"on: {url}, alert after {args.backup_max_age_hours:g} h without a fresh verified backup"
    else:
        switch = f"off: no --backup-url and no Variable {BACKUP_URL_VARIABLE}"
    # Printed, not logged: Airflow's logging runs at WARNING in a shell, and this says what is watched.
    print(f"platform-kit health watch: {args.api_url}; dead man's switch {switch}", flush=True)
    watch(
        args.api_url,
        notify_slack(args.slack_conn_id, args.api_url),
        interval=args.interval,
        confirmations=args.confirmations,
        heartbeat_file=args.heartbeat_file,
        check_backups=check,
        backup_interval=args.backup_interval,
    )
    return 0

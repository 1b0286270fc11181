"""``platform-kit health watch``: the health monitor the compose sandbox runs as a service."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    health = subparsers.add_parser("health", help="watch Airflow's health endpoint")
    commands = health.add_subparsers(dest="health_command", metavar="COMMAND", required=True)
    watch = commands.add_parser(
        "watch",
        help="poll /api/v2/monitor/health and alert on Slack when a component turns unhealthy or recovers",
    )
    watch.add_argument("--api-url", default="http://localhost:8080", help="the api-server base URL")
    watch.add_argument("--slack-conn-id", default="slack_default", help="slackwebhook connection to post to")
    watch.add_argument("--interval", type=float, default=15, help="seconds between polls (default 15)")
    watch.add_argument(
        "--confirmations",
        type=int,
        default=2,
        help="readings in a row before a change is alerted (default 2)",
    )
    watch.add_argument("--heartbeat-file", type=Path, help="file touched after every poll (healthchecks)")
    watch.set_defaults(handler=_watch)


def _watch(args: argparse.Namespace) -> int:
    from platform_kit.health.monitor import notify_slack, watch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    watch(
        args.api_url,
        notify_slack(args.slack_conn_id, args.api_url),
        interval=args.interval,
        confirmations=args.confirmations,
        heartbeat_file=args.heartbeat_file,
    )
    return 0

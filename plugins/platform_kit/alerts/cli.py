"""``platform-kit alerts``: send a test alert, or render a sample offline and check it against the limits.

platform-kit alerts test [--conn-id slack_data]      # one real message through the real delivery
platform-kit alerts render [--kind retry] [--transport telegram] [--long]
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from platform_kit.alerts.message import ALL_FIELDS, Alert
from platform_kit.alerts.slack import check_slack_limits, render_slack
from platform_kit.defaults import SLACK_CONN_ID
from platform_kit.exceptions import ConfigurationError, ConnectionLookupError, PlatformKitError

KINDS = ("failure", "retry", "success", "recovery", "deadline", "late", "summary", "test")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("alerts", help="Slack/Telegram alerts: send a test, render a sample.")
    commands = parser.add_subparsers(dest="alerts_command", metavar="COMMAND", required=True)

    test = commands.add_parser("test", help="Send a test alert through a connection and report the result.")
    test.add_argument(
        "--conn-id",
        default=SLACK_CONN_ID,
        help="connection to send to (slackwebhook or telegram; default: slack_default, then the slack_url "
        "Variable)",
    )
    test.set_defaults(handler=_test)

    render = commands.add_parser(
        "render", help="Print a sample alert payload (no network) and check it against Slack's limits."
    )
    render.add_argument("--kind", choices=KINDS, default="failure", help="which alert to render")
    render.add_argument("--transport", choices=("slack", "telegram"), default="slack")
    render.add_argument(
        "--long", action="store_true", help="use an oversized exception and ids to show the truncation"
    )
    render.add_argument(
        "--fields", help=f"comma-separated subset of fields to show (from {', '.join(ALL_FIELDS)})"
    )
    render.set_defaults(handler=_render)


def sample_alert(kind: str = "failure", *, long: bool = False, fields: tuple[str, ...] = ALL_FIELDS) -> Alert:
    """A realistic alert for previews: a task on its last try with a messy exception, or a DAG run past
    its deadline (``deadline``) that then ended (``late``)."""
    exception = "ValueError: row 7 has <NULL> in column 'amount' & the loader expected > 0"
    if long:
        exception = exception + "\n" + "  traceback line <&>\n" * 2_000
    facts = (
        (("files_deleted", "1204"), ("bytes_freed", "3.2 GiB"), ("duration", "41.7s"))
        if kind == "summary"
        else ()
    )
    if kind in ("deadline", "late"):
        return _sample_deadline_alert(kind, long=long, fields=fields)
    return Alert(
        kind=kind,  # type: ignore[arg-type]
        dag_id=("nightly_sales_load" * (20 if long else 1)),
        task_id="load_orders",
        run_id="scheduled__2026-01-02T00:00:00+00:00",
        try_number=3 if kind != "retry" else 1,
        max_attempts=3,
        state={"failure": "failed", "retry": "up_for_retry"}.get(kind, "success"),
        duration_seconds=75.2,
        logical_date=datetime(2026, 1, 2, tzinfo=UTC),
        owner="data-eng",
        exception=exception if kind in ("failure", "retry") else None,
        log_url="https://airflow.example.com/dags/nightly_sales_load/runs/"
        "scheduled__2026-01-02T00%3A00%3A00%2B00%3A00/tasks/load_orders?try_number=3",
        title="Log cleanup" if kind == "summary" else None,
        facts=facts,
        mentions=("<!subteam^S0DATAENG>",) if kind == "failure" else (),
        fields=fields,
    )


def _sample_deadline_alert(kind: str, *, long: bool, fields: tuple[str, ...]) -> Alert:
    logical_date = datetime(2026, 1, 2, tzinfo=UTC)
    return Alert(
        kind=kind,  # type: ignore[arg-type]
        dag_id=("nightly_sales_load" * (20 if long else 1)),
        run_id="scheduled__2026-01-02T00:00:00+00:00",
        state="running" if kind == "deadline" else "success",
        deadline=datetime(2026, 1, 2, 7, tzinfo=UTC),
        deadline_reference="7h after the run's logical date 2026-01-02T00:00:00+00:00",
        late_seconds=600.0 if kind == "deadline" else 2_712.0,
        duration_seconds=None if kind == "deadline" else 27_912.0,
        logical_date=logical_date,
        owner="data-eng",
        log_url="https://airflow.example.com/dags/nightly_sales_load/runs/"
        "scheduled__2026-01-02T00%3A00%3A00%2B00%3A00",
        mentions=("<!subteam^S0DATAENG>",) if kind == "deadline" else (),
        fields=fields,
    )


def _render(args: argparse.Namespace) -> int:
    fields = tuple(f.strip() for f in args.fields.split(",")) if args.fields else ALL_FIELDS
    unknown = sorted(set(fields) - set(ALL_FIELDS))
    if unknown:
        raise ConfigurationError(f"unknown field(s) {unknown}: choose from {', '.join(ALL_FIELDS)}")
    alert = sample_alert(args.kind, long=args.long, fields=fields)
    if args.transport == "telegram":
        from platform_kit.alerts.telegram import render_telegram

        telegram = render_telegram(alert, chat_id="-1001234567890")
        print(json.dumps(telegram, indent=2, ensure_ascii=False), file=args.results)
        return 0
    payload = render_slack(alert)
    print(json.dumps(payload, indent=2, ensure_ascii=False), file=args.results)
    problems = check_slack_limits(payload)
    if problems:
        raise PlatformKitError("payload exceeds Slack limits: " + "; ".join(problems))
    return 0


def _test(args: argparse.Namespace) -> int:
    from platform_kit.alerts.connections import target_from_connection, variable_target
    from platform_kit.alerts.dispatch import send_alert

    target = target_from_connection(args.conn_id)
    if target is None and args.conn_id == SLACK_CONN_ID:
        target = variable_target()
    if target is None:
        raise ConnectionLookupError(
            f"no usable connection {args.conn_id!r}: create it (conn type slackwebhook with the webhook URL "
            "as password, or telegram) where this command runs, e.g. AIRFLOW_CONN_* or a secrets backend"
        )
    alert = Alert(
        kind="test",
        title=f"Test alert from platform-kit via {target.name}",
        facts=(("sent at", datetime.now(UTC).isoformat(timespec="seconds")), ("transport", target.transport)),
    )
    result = send_alert(alert, target)
    if not result.ok:
        raise PlatformKitError(f"test alert to {target.name} not delivered: {result.reason}")
    print(
        f"Test alert delivered to {target.name} ({target.transport}) in {result.elapsed:.2f} s",
        file=args.results,
    )
    return 0

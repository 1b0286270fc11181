"""Deadlines as declared: the one-line helper, what the cluster policy and the maintenance header write
into the callback (parsed by a real DagBag and serialized the way the dag-processor stores it), the
missed-deadline and finished-late messages, and the settings behind them."""

from __future__ import annotations

import inspect
import json
import logging
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from deadline_contexts import deadline_context

from platform_kit.alerts import deadlines
from platform_kit.alerts.context import alert_from_deadline_context, deadline_run, is_deadline_context
from platform_kit.alerts.deadlines import CALLBACK_PATH, DeadlineSpec, deadline
from platform_kit.alerts.late_runs import _sends_follow_up
from platform_kit.alerts.routing import candidates_for, dag_routing_facts
from platform_kit.alerts.slack import check_slack_limits, render_slack
from platform_kit.alerts.telegram import render_telegram
from platform_kit.exceptions import ConfigurationError

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
QUEUED = datetime(2026, 1, 2, 6, 0, 5, tzinfo=UTC)


# --- the helper ------------------------------------------------------------------------------------


def test_deadline_is_an_airflow_deadline_alert_calling_the_kits_async_callback():
    import importlib

    alert = deadline(hours=2, mentions=["here"], note="Runbook: https://wiki/x")
    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
    assert alert.interval == timedelta(hours=2)
    assert type(alert.callback).__name__ == "AsyncCallback"  # runs in the triggerer
    assert alert.callback.path == CALLBACK_PATH
    module, _, name = CALLBACK_PATH.rpartition(".")  # how the triggerer imports the callback's path
    assert inspect.iscoroutinefunction(getattr(importlib.import_module(module), name))
    assert alert.callback.kwargs == {
        "mentions": ["here"],
        "note": "Runbook: https://wiki/x",
        "deadline_spec": {"reference": "queued", "interval_seconds": 7200.0, "fixed_at": None},
    }


def test_deadline_by_logical_date_and_at_a_fixed_time():
    daily = deadline(hours=7, reference="logical_date")
    assert type(daily.reference).__name__ == "DagRunLogicalDateDeadline"
    at = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    fixed = deadline(reference=at)
    assert type(fixed.reference).__name__ == "FixedDatetimeDeadline"
    assert fixed.interval == timedelta(0)
    spec = DeadlineSpec.of_alert(fixed)
    assert spec == DeadlineSpec("fixed", 0.0, at.timestamp())
    assert spec.due(None, None) == at
    assert spec.describe(at) == "the fixed time 2026-06-30T23:00:00+00:00"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"hours": 1, "reference": "yesterday"},
            "reference must be one of queued, logical_date or a datetime",
        ),
        ({"reference": datetime(2026, 1, 1)}, "a fixed reference needs a timezone-aware datetime"),
        ({"minutes": 0}, "give a positive allowance, e.g. deadline(hours=2)"),
        ({"hours": -1, "reference": datetime(2026, 1, 1, tzinfo=UTC)}, "the allowance must not be negative"),
    ],
)
def test_a_bad_deadline_is_refused_in_one_line(kwargs, message):
    with pytest.raises(ConfigurationError) as error:
        deadline(**kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_spec_due_and_words_for_each_reference():
    logical = datetime(2026, 1, 2, tzinfo=UTC)
    queued = DeadlineSpec("queued", 5400.0)
    assert queued.due(QUEUED, logical) == QUEUED + timedelta(minutes=90)
    assert queued.describe(QUEUED) == "1h 30m after the run was queued at 2026-01-02T06:00:05+00:00"
    by_seven = DeadlineSpec("logical_date", 7 * 3600.0)
    assert by_seven.due(QUEUED, logical) == datetime(2026, 1, 2, 7, tzinfo=UTC)
    assert by_seven.due(QUEUED, None) is None  # a run without a logical date has no such deadline
    assert DeadlineSpec("AverageRuntimeDeadline", 60.0).due(QUEUED, logical) is None
    assert DeadlineSpec.from_json(queued.to_json()) == queued


# --- completion at parse time: the policy (entry point) and the maintenance header -------------------

DAG_FILE = textwrap.dedent(
    """
    import pendulum
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
    from platform_kit.alerts import deadline

    SHARED = deadline(hours=2)
    START = pendulum.datetime(2026, 1, 1, tz="UTC")

    with DAG("sales", schedule=None, start_date=START, tags=["team:sales"], deadline=SHARED,
             default_args={"owner": "Sales-Eng"}):
        EmptyOperator(task_id="t")

    with DAG("payments", schedule=None, start_date=START, tags=["alerts:slack_pay_oncall"], deadline=SHARED):
        EmptyOperator(task_id="t")

    with DAG("two_deadlines", schedule=None, start_date=START,
             deadline=[deadline(hours=2, mentions=["here"]), deadline(hours=1)]):
        EmptyOperator(task_id="t")

    with DAG("tagged_sla", schedule=None, start_date=START, tags=["sla"]):
        EmptyOperator(task_id="t")

    with DAG("tagged_sla_own", schedule=None, start_date=START, tags=["sla"], deadline=deadline(minutes=5)):
        EmptyOperator(task_id="t")

    with DAG("tagged_sla_opted_out", schedule=None, start_date=START, tags=["sla", "alerts:off"]):
        EmptyOperator(task_id="t")
    """
)


def _parse(tmp_path, name="deadline_dags.py", text=DAG_FILE):
    from platform_kit.version_compat import dag_bag_class

    DagBag = dag_bag_class()

    path = tmp_path / name
    path.write_text(text)
    bag = DagBag(dag_folder=str(path), safe_mode=False)
    assert bag.import_errors == {}
    return bag.dags


def _kwargs(dag) -> list[dict]:
    return [alert.callback.kwargs for alert in dag.deadline]


def test_the_policy_writes_each_dags_routing_into_its_own_copy_of_a_shared_deadline(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW__PLATFORM_KIT__DEADLINE_POLICY_TAG", raising=False)
    dags = _parse(tmp_path)
    (sales,) = _kwargs(dags["sales"])
    (payments,) = _kwargs(dags["payments"])
    assert sales["dag_tags"] == ["team:sales"] and sales["dag_owners"] == ["Sales-Eng"]
    assert payments["dag_tags"] == ["alerts:slack_pay_oncall"] and payments["dag_owners"] == []
    # What the triggerer will try, from those facts alone (Airflow gives it no DAG).
    assert candidates_for(sales["dag_tags"], sales["dag_owners"]) == [
        "slack_sales",
        "slack_sales_eng",
        "slack_default",
    ]
    assert candidates_for(payments["dag_tags"], payments["dag_owners"])[0] == "slack_pay_oncall"


def test_every_deadline_of_a_dag_knows_the_others_so_only_the_earliest_follows_up(tmp_path):
    dags = _parse(tmp_path)
    two_hours, one_hour = _kwargs(dags["two_deadlines"])
    assert two_hours["mentions"] == ["here"]
    assert two_hours["sibling_specs"] == one_hour["sibling_specs"]
    assert len(two_hours["sibling_specs"]) == 2
    run = {"queued_at": QUEUED, "logical_date": None}
    siblings = two_hours["sibling_specs"]
    assert _sends_follow_up(DeadlineSpec.from_json(one_hour["deadline_spec"]), siblings, run) is True
    assert _sends_follow_up(DeadlineSpec.from_json(two_hours["deadline_spec"]), siblings, run) is False
    # Without the policy's completion a deadline cannot know its siblings: it follows up itself.
    assert _sends_follow_up(DeadlineSpec.from_json(two_hours["deadline_spec"]), [], run) is True


def test_the_completed_callback_survives_serialization_as_the_scheduler_will_read_it(tmp_path):
    from platform_kit.version_compat import serialized_dag_class

    dag = _parse(tmp_path)["sales"]
    stored = json.loads(json.dumps(serialized_dag_class().to_dict(dag)))  # what lands in serialized_dag
    (encoded,) = stored["dag"]["deadline"]
    encoded = encoded.get("__var", encoded)  # 3.1 wraps each alert in {"__type": "deadline_alert", ...}
    assert encoded["reference"] == {"reference_type": "DagRunQueuedAtDeadline"}
    callback = encoded["callback"]["__data__"]
    assert callback["path"] == CALLBACK_PATH
    assert callback["kwargs"]["dag_tags"] == ["team:sales"]
    assert callback["kwargs"]["deadline_spec"]["interval_seconds"] == 7200.0


def test_the_tag_policy_gives_a_default_deadline_only_where_none_was_declared(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__DEADLINE_POLICY_TAG", "sla")
    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__DEADLINE_POLICY_MINUTES", "45")
    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__DEADLINE_POLICY_REFERENCE", "logical_date")
    dags = _parse(tmp_path)
    (policy,) = dags["tagged_sla"].deadline
    assert type(policy.reference).__name__ == "DagRunLogicalDateDeadline"
    assert policy.interval == timedelta(minutes=45)
    assert policy.callback.kwargs["dag_tags"] == ["sla"]  # completed like a declared one
    (own,) = dags["tagged_sla_own"].deadline
    assert own.interval == timedelta(minutes=5)
    assert not dags["tagged_sla_opted_out"].deadline
    assert not dags["sales"].deadline[1:]  # untagged DAGs keep exactly what they declared


def test_a_bad_policy_setting_is_logged_and_the_dags_still_load(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__DEADLINE_POLICY_TAG", "sla")
    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__DEADLINE_POLICY_MINUTES", "two hours")
    with caplog.at_level(logging.ERROR, logger="platform_kit.alerts.policy"):
        dags = _parse(tmp_path)
    assert not dags["tagged_sla"].deadline
    assert "[platform_kit] deadline_policy_minutes must be a number >= 0, got 'two hours'" in caplog.text


def test_the_policy_is_off_without_a_tag(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW__PLATFORM_KIT__DEADLINE_POLICY_TAG", raising=False)
    assert not _parse(tmp_path)["tagged_sla"].deadline


BACKUP = REPO / "dags" / "maintenance" / "metadb_backup.py"


def _backup_dag(monkeypatch, minutes: str | None):
    from platform_kit.version_compat import dag_bag_class

    DagBag = dag_bag_class()

    if minutes is None:
        monkeypatch.delenv("AIRFLOW__PLATFORM_KIT__BACKUP_DEADLINE_MINUTES", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__BACKUP_DEADLINE_MINUTES", minutes)
    return DagBag(dag_folder=str(BACKUP), safe_mode=False)


def test_the_backup_must_be_done_two_hours_after_it_was_queued_unless_configured(monkeypatch):
    bag = _backup_dag(monkeypatch, None)
    (alert,) = bag.dags["platform_kit_metadb_backup"].deadline
    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
    assert alert.interval == timedelta(hours=2)
    assert alert.callback.kwargs["dag_owners"] == ["platform"]
    assert "maintenance" in alert.callback.kwargs["dag_tags"]

    (alert,) = _backup_dag(monkeypatch, "30").dags["platform_kit_metadb_backup"].deadline
    assert alert.interval == timedelta(minutes=30)
    assert not _backup_dag(monkeypatch, "0").dags["platform_kit_metadb_backup"].deadline


def test_a_bad_maintenance_deadline_setting_is_an_import_error_in_one_line(monkeypatch):
    bag = _backup_dag(monkeypatch, "-5")
    (error,) = bag.import_errors.values()
    assert "[platform_kit] backup_deadline_minutes must be a number >= 0, got '-5'" in error


def test_every_maintenance_dag_has_a_deadline(dag_bag):
    from platform_kit.settings import MAINTENANCE_DEADLINE_OPTIONS

    for dag_id in MAINTENANCE_DEADLINE_OPTIONS:
        (alert,) = dag_bag.dags[dag_id].deadline
        assert deadlines.is_kit_deadline(alert), dag_id
        assert alert.callback.kwargs["dag_tags"], dag_id


# --- the messages ----------------------------------------------------------------------------------


def _deadline_context() -> dict:
    return deadline_context(
        queued_at=QUEUED,
        logical_date=datetime(2026, 1, 2, tzinfo=UTC),
        deadline_time=datetime(2026, 1, 2, 7, tzinfo=UTC),
        start_date=QUEUED + timedelta(seconds=3),
    )


def test_the_context_airflow_sends_is_read_with_its_dates():
    context = _deadline_context()
    assert is_deadline_context(context) and not is_deadline_context({"dag": None, "run_id": "x"})
    run = deadline_run(context)
    assert run["run_id"] == "scheduled__2026-01-02T00:00:00+00:00"
    assert run["queued_at"] == QUEUED and run["deadline_time"] == datetime(2026, 1, 2, 7, tzinfo=UTC)
    assert run["state"] == "running" and run["end_date"] is None


def test_the_missed_deadline_alert_says_which_run_when_it_was_due_how_late_and_links_the_run(monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com")
    spec = DeadlineSpec("logical_date", 7 * 3600.0)
    alert = alert_from_deadline_context(
        _deadline_context(),
        reference=spec.describe(datetime(2026, 1, 2, tzinfo=UTC)),
        owners=["data-eng"],
        mentions=["here"],
        now=datetime(2026, 1, 2, 7, 12, 30, tzinfo=UTC),
    )
    payload = render_slack(alert)
    assert check_slack_limits(payload) == []
    assert payload["blocks"][0]["text"]["text"] == "\u23f0 DAG run missed its deadline: nightly_sales"
    assert payload["blocks"][1]["text"]["text"] == "<!here>"
    fields = [f["text"] for f in payload["blocks"][2]["fields"]]
    assert "*State:*\nrunning" in fields
    assert (
        "*Deadline:*\n2026-01-02T07:00:00+00:00, 7h after the run's logical date 2026-01-02T00:00:00+00:00"
        in fields
    )
    assert "*Late by:*\n12m 30s" in fields
    assert "*Owner:*\ndata-eng" in fields
    run_url = (
        "https://airflow.example.com/dags/nightly_sales/runs/scheduled__2026-01-02T00%3A00%3A00%2B00%3A00"
    )
    assert payload["blocks"][-1]["text"]["text"] == f"<{run_url}|View run>"
    assert payload["text"].endswith(f"Run: {run_url}")


def test_the_follow_up_names_the_final_state_and_the_total_duration():
    from dataclasses import replace

    missed = alert_from_deadline_context(_deadline_context(), now=datetime(2026, 1, 2, 7, 5, tzinfo=UTC))
    late = replace(missed, kind="late", state="failed", late_seconds=2712.0, duration_seconds=27912.0)
    assert late.headline() == "\U0001f534 DAG run failed, finished late: nightly_sales"
    assert replace(late, state="success").headline().startswith("\u2705 DAG run succeeded, finished late")
    body = render_telegram(late, chat_id="-100")
    assert "<b>Late by:</b> 45m 12s" in body["text"]
    assert "<b>Duration:</b> 7h 45m 12s" in body["text"]


# --- settings and routing --------------------------------------------------------------------------


def test_routing_facts_are_json_and_skip_generic_owners():
    from types import SimpleNamespace

    dag = SimpleNamespace(tags={"team:Data-Eng", "daily"}, default_args={"owner": "airflow, ana"})
    facts = dag_routing_facts(dag)
    assert facts == {"dag_tags": ["daily", "team:Data-Eng"], "dag_owners": ["ana"]}
    assert json.loads(json.dumps(facts)) == facts


@pytest.mark.parametrize("raw", ["abc", "-1", "nan"])
def test_number_settings_refuse_what_is_not_a_number_of_minutes(monkeypatch, raw):
    from platform_kit import settings

    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__DEADLINE_FOLLOWUP_MAX_HOURS", raw)
    with pytest.raises(ConfigurationError, match=r"deadline_followup_max_hours must be a number >= 0"):
        settings.deadline_followup_max_hours()


def test_policy_reference_setting_is_checked(monkeypatch):
    from platform_kit import settings

    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__DEADLINE_POLICY_REFERENCE", "queued_at")
    with pytest.raises(ConfigurationError, match="must be one of queued, logical_date, got 'queued_at'"):
        settings.deadline_policy_reference()


# --- the async connection lookup (the triggerer's) -------------------------------------------------


def test_the_async_lookup_finds_checks_and_refuses_like_the_sync_one(monkeypatch):
    import asyncio

    from platform_kit.connections import aget_connection, get_connection
    from platform_kit.exceptions import ConnectionLookupError

    stored = {"conn_type": "slackwebhook", "password": "T/B/X"}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ASYNC", json.dumps(stored))
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_NOWHERE", raising=False)
    conn = asyncio.run(aget_connection("slack_async", ("slackwebhook",)))
    assert (conn.conn_type, conn.password) == ("slackwebhook", "T/B/X")
    assert asyncio.run(aget_connection("slack_nowhere", required=False)) is None
    wrong_type = (
        lambda: asyncio.run(aget_connection("slack_async", ("postgres",), purpose="metadata DB")),
        lambda: get_connection("slack_async", ("postgres",), purpose="metadata DB"),
    )
    for lookup in wrong_type:
        with pytest.raises(ConnectionLookupError) as error:
            lookup()
        assert str(error.value) == (
            "connection 'slack_async' (metadata DB) has conn type 'slackwebhook', expected 'postgres'; fix "
            "the connection or pass the right connection id"
        )
    with pytest.raises(ConnectionLookupError, match=r"^connection 'slack_nowhere' not found: create it"):
        asyncio.run(aget_connection("slack_nowhere"))

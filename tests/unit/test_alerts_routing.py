"""Connections -> targets, and which connection a DAG's alerts go to.

Connections come from ``AIRFLOW_CONN_*`` environment variables, which is what ``Connection.get``
reads outside a task (the e2e tests cover connections stored in the metadata DB).
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from platform_kit.alerts import connections
from platform_kit.alerts.connections import (
    AlertConfigError,
    get_target,
    slack_webhook_url,
    target_from_fields,
    variable_target,
)
from platform_kit.alerts.delivery import DeliveryOptions
from platform_kit.alerts.routing import candidate_conn_ids, resolve_target, team_conn_id

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    for key in ("AIRFLOW_CONN_SLACK_DEFAULT", "AIRFLOW_VAR_SLACK_URL"):
        monkeypatch.delenv(key, raising=False)
    connections.clear_cache()
    yield
    connections.clear_cache()


def _conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def _context(tags=(), owner="airflow", default_owner=None):
    dag = SimpleNamespace(
        dag_id="d", tags=list(tags), default_args={"owner": default_owner} if default_owner else {}
    )
    return {"dag": dag, "task": SimpleNamespace(owner=owner)}


def test_webhook_urls_are_built_like_the_slack_provider_builds_them():
    assert (
        slack_webhook_url("https://hooks.slack.com/services/T1/B1/x")
        == "https://hooks.slack.com/services/T1/B1/x"
    )
    assert slack_webhook_url("T1/B1/x") == "https://hooks.slack.com/services/T1/B1/x"
    assert slack_webhook_url("/T1/B1/x", schema="http", host="proxy.local/services/") == (
        "http://proxy.local/services/T1/B1/x"
    )
    assert (
        slack_webhook_url("T1/B1/x", host="http://127.0.0.1:9/services")
        == "http://127.0.0.1:9/services/T1/B1/x"
    )
    with pytest.raises(AlertConfigError, match="empty password"):
        slack_webhook_url("  ")


def test_telegram_connections_become_bot_api_targets():
    target = target_from_fields(
        "slack_ops", "telegram", "123:ABC", host="-100200", extra={"api_base_url": "http://127.0.0.1:9"}
    )
    assert (target.transport, target.chat_id) == ("telegram", "-100200")
    assert target.url == "http://127.0.0.1:9/bot123:ABC/sendMessage"
    assert "123:ABC" not in repr(target)
    with pytest.raises(AlertConfigError, match="chat id"):
        target_from_fields("t", "telegram", "123:ABC")


def test_a_web_api_slack_connection_is_refused_with_what_to_do():
    with pytest.raises(AlertConfigError, match="slackwebhook"):
        target_from_fields("slack_api_default", "slack", "xoxb-1")


def test_delivery_options_come_from_the_connection_extra():
    options = DeliveryOptions.from_extra({"timeout": "4", "total_timeout": 9, "max_retries": "2"})
    assert (options.read_timeout, options.total_timeout, options.max_retries) == (4.0, 9.0, 2)
    assert DeliveryOptions.from_extra(None) == DeliveryOptions()


def test_candidates_go_from_most_specific_to_the_default():
    context = _context(
        tags=["alerts:slack_oncall", "team:Data-Eng", "alerts:off", "nightly"], owner="ana,airflow"
    )
    assert candidate_conn_ids(context, override="slack_explicit") == [
        "slack_explicit",
        "slack_oncall",
        "slack_data_eng",
        "slack_ana",
        "slack_default",
    ]
    assert candidate_conn_ids(_context()) == ["slack_default"]
    assert candidate_conn_ids(_context(default_owner="Payments Team")) == [
        "slack_payments_team",
        "slack_default",
    ]
    assert team_conn_id("Data-Eng ") == "slack_data_eng"


def test_routing_picks_the_first_existing_connection(monkeypatch):
    _conn(
        monkeypatch, "slack_default", conn_type="slackwebhook", password="http://127.0.0.1:9/services/D/D/d"
    )
    _conn(monkeypatch, "slack_data_eng", conn_type="slackwebhook", password="T2/B2/x")
    assert resolve_target(_context(tags=["team:data-eng"])).name == "slack_data_eng"
    assert resolve_target(_context(owner="data-eng")).url == "https://hooks.slack.com/services/T2/B2/x"
    assert resolve_target(_context(tags=["team:nobody"])).name == "slack_default"


def test_a_missing_explicit_connection_falls_back_and_says_so(monkeypatch, caplog):
    _conn(
        monkeypatch, "slack_default", conn_type="slackwebhook", password="http://127.0.0.1:9/services/D/D/d"
    )
    with caplog.at_level(logging.WARNING):
        target = resolve_target(_context(), override="slack_typo")
    assert target.name == "slack_default"
    assert "slack_typo not found" in caplog.text


def test_the_tutorial_variable_is_the_last_resort(monkeypatch):
    assert resolve_target(_context()) is None
    connections.clear_cache()
    monkeypatch.setenv("AIRFLOW_VAR_SLACK_URL", "T9/B9/tutorial")
    target = resolve_target(_context())
    assert target.url == "https://hooks.slack.com/services/T9/B9/tutorial"
    assert target.name == "Variable slack_url"
    assert variable_target() is target


def test_an_unusable_connection_is_logged_and_skipped(monkeypatch, caplog):
    _conn(monkeypatch, "slack_ops", conn_type="telegram", password="123:ABC")
    _conn(monkeypatch, "slack_default", conn_type="slackwebhook", password="T/B/x")
    with caplog.at_level(logging.ERROR):
        assert get_target("slack_ops") is None
        assert resolve_target(_context(owner="ops")).name == "slack_default"
    assert "set the Telegram chat id" in caplog.text
    assert "123:ABC" not in caplog.text


def test_bad_numbers_in_extra_make_the_connection_unusable_not_the_callback(monkeypatch, caplog):
    _conn(monkeypatch, "slack_default", conn_type="slackwebhook", password="T/B/x", extra={"timeout": "soon"})
    with caplog.at_level(logging.ERROR):
        assert get_target("slack_default") is None
    assert "must be numbers" in caplog.text


@pytest.mark.parametrize("context", [{}, {"dag": None, "ti": object()}, {"reason": "task_failure"}])
def test_callbacks_never_raise_whatever_the_context(context, caplog):
    from platform_kit.alerts import on_failure_callback, on_retry_callback, on_success_callback

    with caplog.at_level(logging.INFO, logger="platform_kit"):
        for callback in (on_failure_callback, on_retry_callback, on_success_callback):
            callback(context)  # no connection configured either: logged, not raised
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    # failure + retry: one line each saying what to create; success: quiet (no earlier failure known).
    assert len(errors) == 2 and all("no alert connection found" in e for e in errors), errors

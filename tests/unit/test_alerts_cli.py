"""``platform-kit alerts render``: the offline preview, validated against Slack's limits."""

from __future__ import annotations

import json

import pytest

from platform_kit.alerts.slack import check_slack_limits
from platform_kit.cli import main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("kind", ["failure", "retry", "recovery", "deadline", "late", "summary", "test"])
@pytest.mark.parametrize("long", [False, True])
def test_render_prints_a_payload_within_the_limits(kind, long, capsys):
    argv = ["alerts", "render", "--kind", kind] + (["--long"] if long else [])
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert check_slack_limits(payload) == []
    assert payload["blocks"][0]["type"] == "header"


def test_render_for_telegram(capsys):
    assert main(["alerts", "render", "--transport", "telegram", "--kind", "retry"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["parse_mode"] == "HTML" and "Retrying" in body["text"]


def test_render_rejects_unknown_fields_in_one_line(capsys):
    assert main(["alerts", "render", "--fields", "dag,colour"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("platform-kit: error: unknown field(s) ['colour']") and "\n" not in err


def test_test_without_a_connection_says_what_to_do(capsys, monkeypatch):
    from platform_kit.alerts import connections

    monkeypatch.delenv("AIRFLOW_VAR_SLACK_URL", raising=False)
    connections.clear_cache()
    assert main(["alerts", "test", "--conn-id", "slack_does_not_exist"]) == 2
    assert "create it (conn type slackwebhook" in capsys.readouterr().err

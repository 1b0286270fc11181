"""``platform-kit alerts render``: the offline preview, validated against Slack's limits."""

from __future__ import annotations

import json
import os

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


def test_a_failed_test_alert_is_reported_on_stderr_and_stdout_stays_empty(tmp_path):
    """From a plain shell: Airflow logs to stdout, so the delivery's warnings used to land there."""
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens once the probe is closed
    conn = {
        "conn_type": "slackwebhook",
        "password": f"http://127.0.0.1:{closed}/hook",
        "extra": {"total_timeout": 2},
    }
    plain_shell = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG")}
    env = {**plain_shell, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW_CONN_SLACK_DEFAULT": json.dumps(conn)}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("platform-kit")), "alerts", "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("platform-kit: error:")]
    assert len(errors) == 1 and "not delivered" in errors[0]

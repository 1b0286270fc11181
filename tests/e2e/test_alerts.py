"""Alerts in the real stack: worker callbacks, the dag-processor's DAG callback, routing through a
connection stored in the metadata DB, and log links that open the task's log."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from twin.client import REQUEST_TIMEOUT

pytestmark = pytest.mark.e2e

RETRY_DAG = "e2e_alerts_retry_then_success"
EXHAUST_DAG = "e2e_alerts_exhaust"
TEAM_PATH = "/services/T0E2E/B0TEAM/e2eteamtoken"


@pytest.fixture(scope="module")
def alert_runs(twin) -> dict:
    """Both DAGs triggered together; returns their run ids once every expected alert has arrived."""
    # Routing: both DAGs carry the tag team:e2e_alerts -> connection slack_e2e_alerts, created through the
    # REST API so the worker and the dag-processor read it from the metadata DB.
    twin.create_connection(
        {
            "connection_id": "slack_e2e_alerts",
            "conn_type": "slackwebhook",
            "password": f"{twin.receiver_url}{TEAM_PATH}",
        }
    )
    runs = {dag_id: twin.trigger(dag_id) for dag_id in (RETRY_DAG, EXHAUST_DAG)}
    finals = {dag_id: twin.wait_for_run(dag_id, run_id, timeout=300) for dag_id, run_id in runs.items()}
    # The DAG-level callback runs in the dag-processor after the run is marked failed: allow it time.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _dag_level(twin, runs[EXHAUST_DAG]):
        time.sleep(2)
    return {"runs": runs, "finals": finals}


def _messages(twin, run_id: str) -> list[dict]:
    return [
        m for m in twin.receiver_messages() if isinstance(m["body"], dict) and run_id in m["body"]["text"]
    ]


def _headers(messages: list[dict]) -> list[str]:
    return sorted(m["body"]["blocks"][0]["text"]["text"] for m in messages)


def _dag_level(twin, run_id: str) -> list[dict]:
    return [m for m in _messages(twin, run_id) if "DAG run failed" in m["body"]["text"]]


def test_a_retry_that_recovers_gives_one_retry_alert_and_no_failure_alert(twin, alert_runs):
    run_id = alert_runs["runs"][RETRY_DAG]
    assert alert_runs["finals"][RETRY_DAG]["state"] == "success"
    messages = _messages(twin, run_id)
    assert _headers(messages) == [
        f"\u2705 Recovered: {RETRY_DAG}.flaky",
        f"\U0001f7e0 Retrying after try 1 of 2: {RETRY_DAG}.flaky",
    ]
    assert {m["path"] for m in messages} == {TEAM_PATH}
    retry = next(m["body"] for m in messages if "Retrying" in m["body"]["text"])
    assert "Error: ConnectionError: warehouse &lt;primary&gt; unreachable &amp; retrying" in retry["text"]
    assert "Failed" not in retry["text"]


def test_exhausted_retries_give_one_failure_alert_whose_link_opens_the_log(twin, alert_runs):
    run_id = alert_runs["runs"][EXHAUST_DAG]
    assert alert_runs["finals"][EXHAUST_DAG]["state"] == "failed"
    task_alerts = [m for m in _messages(twin, run_id) if "DAG run" not in m["body"]["text"]]
    assert _headers(task_alerts) == [
        f"\U0001f534 Failed: {EXHAUST_DAG}.always_fails",
        f"\U0001f7e0 Retrying after try 1 of 2: {EXHAUST_DAG}.always_fails",
    ]
    failure = next(m["body"] for m in task_alerts if "Failed:" in m["body"]["text"])
    link = failure["text"].rsplit("Log: ", 1)[1].strip()
    assert link.startswith(twin.api_url)  # [api] base_url, not localhost:8080

    # The link names the DAG, the run, the task and the try; that try's log holds the error.
    parts = urlsplit(link)
    segments = [unquote(s) for s in parts.path.strip("/").split("/")]
    assert segments == ["dags", EXHAUST_DAG, "runs", run_id, "tasks", "always_fails"]
    try_number = int(parse_qs(parts.query)["try_number"][0])
    assert try_number == 2
    log = twin.task_log(EXHAUST_DAG, run_id, "always_fails", try_number=try_number)
    assert "e2e exhausted: quota <100%> & still failing" in log
    # The UI serves the page the link opens.
    assert requests.get(link, timeout=REQUEST_TIMEOUT).status_code == 200


def test_the_dag_level_failure_alert_comes_from_the_dag_processor(twin, alert_runs):
    run_id = alert_runs["runs"][EXHAUST_DAG]
    (message,) = _dag_level(twin, run_id)
    body = message["body"]
    assert message["path"] == TEAM_PATH
    assert body["blocks"][0]["text"]["text"] == f"\U0001f534 DAG run failed: {EXHAUST_DAG}"
    fields = {
        f["text"].split(":*\n")[0].strip("*"): f["text"].split(":*\n")[1] for f in body["blocks"][1]["fields"]
    }
    assert fields["Reason"] == "task_failure"
    # The dag-processor's context names only the last task instance; the alert asks the Execution API
    # which tasks actually failed.
    assert fields["Failed tasks"] == "always_fails"
    assert "Error" not in body["text"]  # DAG-level contexts carry no exception
    processor_logs = "\n".join(
        p.read_text(errors="replace")
        for p in (twin.log_folder / "dag_processor").rglob(f"{EXHAUST_DAG}.py.log")
    )
    assert f"Sent failure alert for {EXHAUST_DAG} to slack_e2e_alerts" in processor_logs

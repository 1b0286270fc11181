"""Missed-deadline alerts in the real stack.

Airflow's scheduler creates each run's deadline and marks it missed; the triggerer runs the kit's
``AsyncCallback``, which looks the team's connection up in the metadata DB through the Execution API,
sends the missed-deadline alert, watches the run and sends the finished-late follow-up. Deadlines are
seconds long (``tests/e2e/dags/e2e_deadlines.py``); the scheduler checks them on every loop, so the twin
needs no setting changed. Three runs go at once: two outlive a 10 s deadline (one then succeeds, one
fails), one finishes well inside a 60 s deadline.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.e2e

LATE_DAG = "e2e_deadline_late"
IN_TIME_DAG = "e2e_deadline_in_time"
LATE_DEADLINE = timedelta(seconds=10)
IN_TIME_DEADLINE = timedelta(seconds=60)
WORK_SECONDS = 25
TEAM_PATH = "/services/T0E2E/B0DEADLINE/e2edeadlinetoken"
MISSED = "\u23f0 DAG run missed its deadline: "
# Long enough after a deadline for several scheduler loops and the triggerer to pick a callback up.
SETTLE = timedelta(seconds=25)


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _messages(twin, run_id: str) -> list[dict]:
    return [
        m for m in twin.receiver_messages() if isinstance(m["body"], dict) and run_id in m["body"]["text"]
    ]


def _fields(message: dict) -> dict[str, str]:
    fields = next(b["fields"] for b in message["body"]["blocks"] if b.get("fields"))
    return {f["text"].split(":*\n")[0].strip("*"): f["text"].split(":*\n", 1)[1] for f in fields}


def _headline(message: dict) -> str:
    return message["body"]["blocks"][0]["text"]["text"]


@pytest.fixture(scope="module")
def deadline_runs(twin) -> dict:
    """The three runs, once both late ones have their follow-up and the in-time one's deadline is past."""
    twin.create_connection(
        {
            "connection_id": "slack_e2e_deadlines",
            "conn_type": "slackwebhook",
            "password": f"{twin.receiver_url}{TEAM_PATH}",
        }
    )
    runs = {
        "late_success": (LATE_DAG, twin.trigger(LATE_DAG, conf={"work_seconds": WORK_SECONDS})),
        "late_failed": (LATE_DAG, twin.trigger(LATE_DAG, conf={"work_seconds": WORK_SECONDS, "fail": True})),
        "in_time": (IN_TIME_DAG, twin.trigger(IN_TIME_DAG)),
    }
    finals = {name: twin.wait_for_run(dag_id, run_id, timeout=300) for name, (dag_id, run_id) in runs.items()}
    late = [runs["late_success"][1], runs["late_failed"][1]]
    give_up = time.monotonic() + 180
    while time.monotonic() < give_up and not all(len(_messages(twin, run_id)) >= 2 for run_id in late):
        time.sleep(2)
    settled = _when(finals["in_time"]["queued_at"]) + IN_TIME_DEADLINE + SETTLE
    time.sleep(max((settled - datetime.now(UTC)).total_seconds(), 0))
    return {name: {"run_id": runs[name][1], "final": finals[name]} for name in runs}


def _seconds_since(value: str) -> float:
    return (datetime.now(UTC) - _when(value)).total_seconds()


@pytest.mark.parametrize(("case", "state"), [("late_success", "success"), ("late_failed", "failed")])
def test_a_run_past_its_deadline_gets_one_alert_then_one_follow_up(twin, deadline_runs, case, state):
    run = deadline_runs[case]
    final = run["final"]
    assert final["state"] == state
    messages = sorted(_messages(twin, run["run_id"]), key=lambda m: m["received_at"])
    headlines = [_headline(m) for m in messages]
    emoji = "\u2705 DAG run succeeded" if state == "success" else "\U0001f534 DAG run failed"
    assert headlines == [MISSED + LATE_DAG, f"{emoji}, finished late: {LATE_DAG}"]
    assert {m["path"] for m in messages} == {TEAM_PATH}  # routed by the DAG's team tag

    missed, follow_up = (_fields(m) for m in messages)
    missed_at, follow_up_at = (m["received_at"] for m in messages)
    queued, started, ended = (_when(final[key]) for key in ("queued_at", "start_date", "end_date"))
    due = queued + LATE_DEADLINE
    at = queued.isoformat(timespec="seconds")
    assert missed["Deadline"] == f"{due.isoformat(timespec='seconds')}, 10s after the run was queued at {at}"
    assert missed_at >= due.timestamp()
    # The state is asked just before sending. A busy triggerer (its in-process Execution API is built on
    # first use, which took 40 s on a loaded host) may only get there after the run ended.
    if missed_at < ended.timestamp():
        assert missed["State"] in ("queued", "running")
    else:
        assert missed["State"] in ("queued", "running", state)

    assert follow_up["State"] == state
    assert follow_up["Deadline"] == missed["Deadline"]
    assert follow_up_at >= ended.timestamp()
    # The watch sees the end at its next poll (or when it starts, if the run ended before): what it
    # reports lies between the truth and the moment the follow-up was sent.
    duration = _seconds(follow_up["Duration"])
    assert (ended - started).total_seconds() - 1 <= duration <= follow_up_at - started.timestamp() + 1
    assert duration >= WORK_SECONDS
    late_by = _seconds(follow_up["Late by"])
    assert (ended - due).total_seconds() - 1 <= late_by <= follow_up_at - due.timestamp() + 1


def test_a_run_that_finishes_in_time_gets_no_message(twin, deadline_runs):
    run = deadline_runs["in_time"]
    final = run["final"]
    assert final["state"] == "success"
    due = _when(final["queued_at"]) + IN_TIME_DEADLINE
    assert _when(final["end_date"]) < due, "the quick run did not even beat a 60 s deadline"
    assert _seconds_since(final["queued_at"]) > (IN_TIME_DEADLINE + SETTLE).total_seconds()
    assert _messages(twin, run["run_id"]) == []


def test_the_alert_came_from_the_triggerer_and_its_run_link_opens_the_run(twin, deadline_runs):
    from twin.browser import chromium_page, log_in
    from twin.stack import UI_PASSWORD, UI_USER

    run_id = deadline_runs["late_success"]["run_id"]
    (missed,) = [m for m in _messages(twin, run_id) if _headline(m).startswith(MISSED)]
    link = missed["body"]["text"].rsplit("Run: ", 1)[1].strip()
    assert link.startswith(f"{twin.api_url}/dags/{LATE_DAG}/runs/")

    triggerer_log = (twin.home / "component-logs" / "triggerer.log").read_text(errors="replace")
    assert f"Sent deadline alert for {LATE_DAG} to slack_e2e_deadlines" in triggerer_log
    assert f"Sent late alert for {LATE_DAG} to slack_e2e_deadlines" in triggerer_log

    with chromium_page() as page:
        log_in(page, twin.ui_url, UI_USER, UI_PASSWORD)
        page.goto(link)
        page.get_by_text("slow_step").first.wait_for()
        page.get_by_text(run_id).first.wait_for()
        assert page.url == link


def _seconds(text: str) -> float:
    """``'1m 5s'`` / ``'27.0s'`` / ``'1h 2m 3s'`` -> seconds."""
    total = 0.0
    for part in text.split():
        value, unit = float(part[:-1]), part[-1]
        total += value * {"h": 3600, "m": 60, "s": 1}[unit]
    return total

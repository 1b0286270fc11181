"""The kit's Deadline Alert callback over real HTTP, run the way the triggerer runs it.

- The callback goes through Airflow's own trigger (``CallbackTrigger``, which imports the path and calls
  it with the kwargs and ``context`` the scheduler stored), with kwargs from a DAG parsed by a real
  DagBag (so the cluster policy filled them) and a context made by Airflow's own serializer.
- Connections are ``AIRFLOW_CONN_*`` variables, found through the Task SDK's async lookup.
- Messages land on the twin's Slack receiver, which can also hang like a dead Slack.
- Outside a triggerer there is no Execution API to ask a run's state: where the watch for the run's end
  is tested, a scripted ``run_state`` stands in for it (the e2e tier asks the real one).
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from datetime import timedelta

import pytest
import requests
from deadline_contexts import callback_trigger, deadline_context, now

from platform_kit.alerts.deadlines import CALLBACK_PATH
from platform_kit.alerts.late_runs import handle_missed_deadline

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_alert_memory")]

TEAM_PATH = "/services/T0TEAM/B0DEADLINE/teamtoken"

DAG_FILE = textwrap.dedent(
    """
    import pendulum
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
    from platform_kit.alerts import deadline

    with DAG("nightly_sales", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
             tags=["team:sales"], default_args={"owner": "ana"},
             deadline=[deadline(minutes=10, mentions=["here"]), deadline(minutes=30)]):
        EmptyOperator(task_id="load")
    """
)


@pytest.fixture(scope="module")
def callback_kwargs(tmp_path_factory) -> list[dict]:
    """The kwargs of the DAG's two deadline callbacks, as the cluster policy left them at parse time."""
    from platform_kit.version_compat import dag_bag_class

    DagBag = dag_bag_class()

    path = tmp_path_factory.mktemp("dags") / "nightly_sales.py"
    path.write_text(DAG_FILE)
    bag = DagBag(dag_folder=str(path), safe_mode=False)
    assert bag.import_errors == {}
    return [json.loads(json.dumps(a.callback.kwargs)) for a in bag.dags["nightly_sales"].deadline]


@pytest.fixture
def team(monkeypatch, slack_receiver):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_SALES",
        json.dumps({"conn_type": "slackwebhook", "password": f"{slack_receiver.url}{TEAM_PATH}"}),
    )
    return slack_receiver


def _headlines(receiver) -> list[str]:
    return [m["body"]["blocks"][0]["text"]["text"] for m in receiver.state.messages]


def _fields(message: dict) -> dict[str, str]:
    fields = next(b["fields"] for b in message["body"]["blocks"] if b.get("fields"))
    return {f["text"].split(":*\n")[0].strip("*"): f["text"].split(":*\n", 1)[1] for f in fields}


async def _run_trigger(kwargs: dict) -> list[dict]:
    return [event.payload async for event in callback_trigger(CALLBACK_PATH, kwargs).run()]


@pytest.mark.matrix  # this minor's deadline callback trigger
def test_airflows_trigger_runs_the_callback_to_the_teams_channel_alert_then_follow_up(team, callback_kwargs):
    queued = now() - timedelta(minutes=45)
    ended = now() - timedelta(seconds=5)
    context = deadline_context(
        state="success", queued_at=queued, deadline_time=queued + timedelta(minutes=10), end_date=ended
    )
    ten_minutes = callback_kwargs[0]
    events = asyncio.run(_run_trigger({**ten_minutes, "context": context}))

    assert [str(e["state"]).rsplit(".", 1)[-1].lower() for e in events] == ["running", "success"]
    assert events[-1]["body"] == (
        "missed-deadline alert sent for nightly_sales scheduled__2026-01-02T00:00:00+00:00; "
        "finished-late follow-up (success) sent"
    )
    assert _headlines(team) == [
        "\u23f0 DAG run missed its deadline: nightly_sales",
        "\u2705 DAG run succeeded, finished late: nightly_sales",
    ]
    missed, late = team.state.messages
    assert {missed["path"], late["path"]} == {TEAM_PATH}  # team:sales -> slack_sales, from the kwargs
    assert missed["body"]["blocks"][1]["text"]["text"] == "<!here>" and "<!here>" not in late["body"]["text"]
    assert _fields(missed)["Deadline"].endswith(
        f"10m after the run was queued at {queued.isoformat(timespec='seconds')}"
    )
    assert _fields(missed)["Owner"] == "ana"
    assert _fields(late)["Late by"] == "34m 55s"
    assert _fields(late)["Duration"] == "44m 54s"  # start (queued + 1 s) to end
    assert late["body"]["text"].endswith(
        "Run: https://airflow.example.com/dags/nightly_sales/runs/scheduled__2026-01-02T00%3A00%3A00%2B00%3A00"
    )


def test_the_watch_follows_the_run_to_its_end_and_follows_up_once(team, callback_kwargs):
    queued = now() - timedelta(minutes=11)
    context = deadline_context(queued_at=queued, deadline_time=queued + timedelta(minutes=10))
    answers = iter(["running", "running", "queued", "running", "failed"])
    asked: list[tuple[str, str]] = []

    async def run_state(dag_id: str, run_id: str) -> str:  # stands in for the Execution API
        asked.append((dag_id, run_id))
        return next(answers)

    started = time.monotonic()
    output = asyncio.run(
        handle_missed_deadline(context, callback_kwargs[0], run_state=run_state, poll_seconds=0.05)
    )
    assert output.endswith("finished-late follow-up (failed) sent")
    assert len(asked) == 5 and set(asked) == {("nightly_sales", "scheduled__2026-01-02T00:00:00+00:00")}
    assert time.monotonic() - started < 5
    assert _headlines(team) == [
        "\u23f0 DAG run missed its deadline: nightly_sales",
        "\U0001f534 DAG run failed, finished late: nightly_sales",
    ]
    missed, late = (_fields(m) for m in team.state.messages)
    assert missed["State"] == "running"  # asked when the alert went out, not the scheduler's snapshot
    assert late["State"] == "failed"
    assert 11 * 60 - 2 <= _seconds(late["Duration"]) <= 11 * 60 + 5  # started 1 s after it was queued


def test_a_run_that_failed_before_its_deadline_gets_the_alert_and_no_follow_up(team, callback_kwargs):
    queued = now() - timedelta(minutes=20)
    context = deadline_context(
        state="failed",
        queued_at=queued,
        deadline_time=queued + timedelta(minutes=10),
        end_date=queued + timedelta(minutes=3),
    )
    output = asyncio.run(handle_missed_deadline(context, callback_kwargs[0]))
    assert output.endswith("the run had ended failed before its deadline, no follow-up")
    assert _headlines(team) == ["\u23f0 DAG run missed its deadline: nightly_sales"]
    assert _fields(team.state.messages[0])["State"] == "failed"


def test_a_bad_follow_up_setting_still_sends_the_alert_and_says_why_there_is_no_follow_up(
    team, callback_kwargs, monkeypatch, caplog
):
    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__DEADLINE_FOLLOWUP_MAX_HOURS", "soon")
    queued = now() - timedelta(minutes=15)
    context = deadline_context(queued_at=queued, deadline_time=queued + timedelta(minutes=10))
    output = asyncio.run(handle_missed_deadline(context, callback_kwargs[0]))
    problem = "[platform_kit] deadline_followup_max_hours must be a number >= 0, got 'soon'"
    assert output.endswith(f"; no follow-up: {problem}")
    assert _headlines(team) == ["\u23f0 DAG run missed its deadline: nightly_sales"]
    (record,) = [r for r in caplog.records if problem in r.getMessage()]
    assert record.levelname == "ERROR" and record.exc_info is None


def test_of_two_missed_deadlines_each_alerts_once_and_only_the_earlier_follows_up(team, callback_kwargs):
    queued = now() - timedelta(minutes=40)
    ended = now() - timedelta(seconds=1)

    async def both() -> list[str]:
        calls = [
            handle_missed_deadline(
                deadline_context(
                    state="success",
                    queued_at=queued,
                    deadline_time=queued + timedelta(minutes=minutes),
                    end_date=ended,
                ),
                kwargs,
            )
            for minutes, kwargs in zip((10, 30), callback_kwargs, strict=True)
        ]
        return await asyncio.gather(*calls)

    ten, thirty = asyncio.run(both())
    assert ten.endswith("finished-late follow-up (success) sent")
    assert thirty.endswith("follow-up left to the DAG's earliest deadline")
    assert sorted(_headlines(team)) == sorted(
        ["\u23f0 DAG run missed its deadline: nightly_sales"] * 2
        + ["\u2705 DAG run succeeded, finished late: nightly_sales"]
    )


def test_a_hanging_slack_never_blocks_the_event_loop_and_the_callback_returns_within_the_cap(
    monkeypatch, slack_receiver, callback_kwargs, caplog
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_SALES",
        json.dumps(
            {
                "conn_type": "slackwebhook",
                "password": f"{slack_receiver.url}{TEAM_PATH}",
                "extra": {"timeout": 3, "total_timeout": 4},
            }
        ),
    )
    requests.post(f"{slack_receiver.url}/_control", json={"hang": True}, timeout=5).raise_for_status()
    queued = now() - timedelta(minutes=15)
    context = deadline_context(queued_at=queued, deadline_time=queued + timedelta(minutes=10))

    async def measured() -> tuple[str, float, float]:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.02)
                gaps.append(time.monotonic() - last)
                last = time.monotonic()

        tick = asyncio.create_task(ticker())
        started = time.monotonic()
        output = await handle_missed_deadline(
            context, {**callback_kwargs[0], "sibling_specs": []}, max_wait_seconds=0
        )
        elapsed = time.monotonic() - started
        stop.set()
        await tick
        return output, elapsed, max(gaps)

    output, elapsed, longest_gap = asyncio.run(measured())
    assert output.startswith("missed-deadline alert not sent")
    assert elapsed < 4 + 2  # the connection's total_timeout, plus scheduling noise
    # A POST made on the loop would stall it for the whole 3 s read timeout; a loaded machine adds noise.
    assert longest_gap < 1.5, f"the event loop stalled for {longest_gap:.2f} s"
    assert "dropped" in caplog.text and "slack_sales" in caplog.text
    assert "teamtoken" not in caplog.text


FIRST_ALERT = textwrap.dedent(
    """
    import asyncio, json, sys, threading
    from datetime import timedelta

    first_import = {}

    class Spy:  # records which thread first imports requests (seconds on a busy host)
        def find_spec(self, name, path=None, target=None):
            if name == "requests" and not first_import:
                first_import["thread"] = threading.current_thread().name
            return None

    sys.meta_path.insert(0, Spy())
    from deadline_contexts import callback_trigger, deadline_context, now

    assert "requests" not in sys.modules
    queued = now() - timedelta(minutes=15)
    context = deadline_context(queued_at=queued, deadline_time=queued + timedelta(minutes=10))
    kwargs = {"conn_id": "slack_sales", "context": context}

    async def run():
        return [e.payload async for e in callback_trigger(CALLBACK_PATH, kwargs).run()]

    events = asyncio.run(run())
    print(json.dumps({**first_import, "loop": threading.main_thread().name, "body": events[-1]["body"]}))
    """
)


def test_the_first_alert_after_a_triggerer_start_imports_requests_off_the_event_loop(team, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    script = f"CALLBACK_PATH = {CALLBACK_PATH!r}\n" + FIRST_ALERT
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["body"].startswith("missed-deadline alert sent")
    assert result["thread"] != result["loop"], "requests was imported on the event loop's thread"
    assert _headlines(team) == ["\u23f0 DAG run missed its deadline: nightly_sales"]


@pytest.mark.matrix  # the triggerer's connection lookup of this minor
def test_with_no_connection_anywhere_it_logs_what_to_create_and_returns(monkeypatch, callback_kwargs, caplog):
    for name in ("AIRFLOW_CONN_SLACK_SALES", "AIRFLOW_CONN_SLACK_ANA", "AIRFLOW_CONN_SLACK_DEFAULT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_SLACK_URL", raising=False)
    queued = now() - timedelta(minutes=15)
    context = deadline_context(queued_at=queued, deadline_time=queued + timedelta(minutes=10))
    output = asyncio.run(handle_missed_deadline(context, callback_kwargs[0], max_wait_seconds=0))
    assert output.startswith("missed-deadline alert not sent")
    assert "no alert connection found" in caplog.text and "Create connection slack_default" in caplog.text


def _seconds(text: str) -> float:
    return sum(float(part[:-1]) * {"h": 3600, "m": 60, "s": 1}[part[-1]] for part in text.split())

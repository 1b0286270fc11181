"""Alerts over real HTTP: exact payloads from real callback contexts, and delivery under faults.

- Task-level callbacks run for real: a small DAG goes through ``dag.test()`` in a subprocess (its own
  SQLite metadata DB), so the contexts are the ones the Task SDK runner builds.
- The DAG-level callback runs through the dag-processor's own ``_execute_dag_callbacks`` with a real
  ``DagCallbackRequest``, so the context is built by the same code as in production.
- Faults (429 + Retry-After, 500, a server that accepts and never answers, rate limiting) come from the
  twin's Slack receiver or from the scripted server below. Nothing in ``requests`` is mocked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from platform_kit.alerts import connections, on_failure_callback, send_summary
from platform_kit.alerts.delivery import DeliveryOptions, post_json
from platform_kit.alerts.notifier import NO_EXCEPTION_NOTE
from platform_kit.version_compat import AIRFLOW_V_3_3_PLUS

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_alert_memory")]

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BASE_URL = "https://airflow.example.com"
SECRET_PATH = "services/T0SECRET/B0SECRET/s3cr3tT0k3n"


# ------------------------------------------------------------------------------------------ fixtures


def _control(receiver, **mode) -> None:
    requests.post(f"{receiver.url}/_control", json=mode, timeout=5).raise_for_status()


def _use_receiver(monkeypatch, receiver, conn_id="slack_default", **extra) -> str:
    url = f"{receiver.url}/{SECRET_PATH}"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "slackwebhook", "password": url, "extra": extra}),
    )
    return url


class ScriptedServer:
    """Answers POSTs with a fixed script of (status, headers) and records when each request came."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        self.script = list(script)
        self.requests: list[tuple[float, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((time.monotonic(), json.loads(body)))
                status, headers = outer.script.pop(0) if outer.script else (200, {})
                answer = b"ok" if status == 200 else b"rate_limited"
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(answer))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted() -> Iterator:
    servers: list[ScriptedServer] = []

    def make(script):
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory) -> Path:
    """An AIRFLOW_HOME with a migrated SQLite DB; each dag.test() run gets a copy."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    subprocess.run(
        [str(Path(PYTHON).parent / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    return home


def run_dag_test(migrated_home: Path, tmp_path: Path, dag_source: str, env: dict[str, str]) -> dict:
    """Run the DAG in ``dag_source`` with ``dag.test()`` in a fresh interpreter; return run facts + output."""
    home = tmp_path / "home"
    shutil.copytree(migrated_home, home)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "alerts_dagtest.py").write_text(textwrap.dedent(dag_source))
    driver = textwrap.dedent(
        f"""
        import json, sys
        import pendulum
        sys.path.insert(0, {str(dags)!r})
        from alerts_dagtest import dag
        run = dag.test(logical_date=pendulum.datetime(2026, 1, 2, tz="UTC"))
        states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
        print("DAGTEST", json.dumps({{"run_id": run.run_id, "state": str(run.state), "tasks": states}}))
        """
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    full_env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__BASE_URL=BASE_URL,
        **env,
    )
    done = subprocess.run(
        [PYTHON, "-c", driver], env=full_env, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    output = done.stdout + done.stderr
    match = re.search(r"^DAGTEST (.*)$", done.stdout, re.M)
    assert match, output[-5000:]
    return {**json.loads(match.group(1)), "output": output}


def _normalise(payload: dict) -> dict:
    """Durations vary from run to run; everything else must match exactly."""
    text = json.dumps(payload, ensure_ascii=False)
    text = re.sub(r"(Duration:(?:\*\\n| ))(?:\d+h )?(?:\d+m )?\d+(?:\.\d)?s", r"\1<duration>", text)
    return json.loads(text)


def _task_payload(
    header: str, fields: list[tuple[str, str]], tail: list[dict], text_extra: list[str]
) -> dict:
    return {
        "text": "\n".join([header, *(f"{k}: {v}" for k, v in fields), *text_extra]),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}:*\n{v}"} for k, v in fields]},
            *tail,
        ],
    }


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# --------------------------------------------------------------------- exact payloads, real contexts

CALLBACK_DAG = """
    import pendulum
    from airflow.sdk import DAG, get_current_context, task

    from platform_kit.alerts import SlackNotifier, on_failure_callback, on_retry_callback, on_success_callback

    with DAG(
        "alerts_dagtest",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        tags=["team:payments"],
        default_args={
            "owner": "data-eng",
            "retries": 1,
            "retry_delay": 0,
            "on_failure_callback": on_failure_callback,
            "on_retry_callback": on_retry_callback,
            "on_success_callback": on_success_callback,
        },
        # A BaseNotifier with a Jinja field at DAG level: under dag.test() this hits #64649 unless the
        # notifier works around it.
        on_failure_callback=SlackNotifier(note="Runbook: https://wiki.example.com/{{ dag.dag_id }}"),
    ) as dag:

        @task
        def flaky():
            if get_current_context()["ti"].try_number == 1:
                raise ValueError("first try fails <&>")

        @task(retries=0)
        def broken():
            raise RuntimeError("disk <full> & cannot write")

        @task
        def fine():
            return 1

        flaky()
        broken()
        fine()
"""


def _captured(error: str) -> str:
    """The error line of a task alert under ``dag.test()``.

    Before 3.3, ``dag.test()`` leaves the exception out of the task callbacks' context (the forked task
    runner, what production uses, puts it in: the smoke test's failure alert on the 3.1 and 3.2 twins), and
    the alert then says no exception was captured rather than guess.
    """
    return error if AIRFLOW_V_3_3_PLUS else NO_EXCEPTION_NOTE


@pytest.mark.matrix  # the task callbacks' context from this minor's dag.test()
def test_task_and_dag_callbacks_post_exactly_these_payloads(migrated_home, tmp_path, slack_receiver):
    # Routing: the DAG's tag team:payments selects connection slack_payments (no slack_default exists).
    webhook = f"{slack_receiver.url}/services/T0/B0PAYMENTS/paytoken"
    result = run_dag_test(
        migrated_home,
        tmp_path,
        CALLBACK_DAG,
        {"AIRFLOW_CONN_SLACK_PAYMENTS": json.dumps({"conn_type": "slackwebhook", "password": webhook})},
    )
    assert result["tasks"] == {"flaky": "success", "broken": "failed", "fine": "success"}, result["output"][
        -3000:
    ]
    run_id = result["run_id"]
    quoted = requests.utils.quote(run_id, safe="")
    messages = slack_receiver.state.messages
    assert {m["path"] for m in messages} == {"/services/T0/B0PAYMENTS/paytoken"}
    by_header = {m["body"]["blocks"][0]["text"]["text"]: _normalise(m["body"]) for m in messages}
    assert len(by_header) == len(messages) == 4, list(by_header)

    common = [("DAG", "alerts_dagtest")]
    date = ("Logical date", "2026-01-02T00:00:00+00:00")
    log = f"{BASE_URL}/dags/alerts_dagtest/runs/{quoted}/tasks"

    retry_header = "\U0001f7e0 Retrying after try 1 of 2: alerts_dagtest.flaky"
    retry_fields = [
        *common,
        ("Task", "flaky"),
        ("Run", run_id),
        ("Try", "1 of 2"),
        ("State", "up_for_retry"),
        ("Duration", "<duration>"),
        date,
        ("Owner", "data-eng"),
    ]
    retry_error = _captured("ValueError: first try fails &lt;&amp;&gt;")
    assert by_header[retry_header] == _task_payload(
        retry_header,
        retry_fields,
        [
            _section(f"*Error*\n```{retry_error}```"),
            _section(f"<{log}/flaky?try_number=1|View log>"),
        ],
        [f"Error: {retry_error}", f"Log: {log}/flaky?try_number=1"],
    )

    failure_header = "\U0001f534 Failed: alerts_dagtest.broken"
    failure_error = _captured("RuntimeError: disk &lt;full&gt; &amp; cannot write")
    failure_fields = [
        *common,
        ("Task", "broken"),
        ("Run", run_id),
        ("Try", "1 of 1"),
        ("State", "failed"),
        ("Duration", "<duration>"),
        date,
        ("Owner", "data-eng"),
    ]
    assert by_header[failure_header] == _task_payload(
        failure_header,
        failure_fields,
        [
            _section(f"*Error*\n```{failure_error}```"),
            _section(f"<{log}/broken?try_number=1|View log>"),
        ],
        [f"Error: {failure_error}", f"Log: {log}/broken?try_number=1"],
    )

    # Success after a retry is a recovery (people saw the retry alert); "fine" succeeded quietly.
    recovery_header = "\u2705 Recovered: alerts_dagtest.flaky"
    recovery_fields = [
        *common,
        ("Task", "flaky"),
        ("Run", run_id),
        ("Try", "2 of 2"),
        ("State", "success"),
        ("Duration", "<duration>"),
        date,
        ("Owner", "data-eng"),
    ]
    assert by_header[recovery_header] == _task_payload(
        recovery_header,
        recovery_fields,
        [_section(f"<{log}/flaky?try_number=2|View log>")],
        [f"Log: {log}/flaky?try_number=2"],
    )

    dag_header = "\U0001f534 DAG run failed: alerts_dagtest"
    dag_fields = [
        *common,
        ("Run", run_id),
        ("State", "failed"),
        ("Duration", "<duration>"),
        date,
        ("Owner", "data-eng"),
        ("Reason", "task_failure"),
    ]
    run_link = f"{BASE_URL}/dags/alerts_dagtest/runs/{quoted}"
    assert by_header[dag_header] == _task_payload(
        dag_header,
        dag_fields,
        [_section("Runbook: https://wiki.example.com/alerts_dagtest"), _section(f"<{run_link}|View run>")],
        ["Runbook: https://wiki.example.com/alerts_dagtest", f"Run: {run_link}"],
    )


DAG_LEVEL_DAG = """
    import pendulum
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator

    from platform_kit.alerts import SlackNotifier, on_failure_callback

    with DAG(
        "alerts_dag_level",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        default_args={"owner": "platform"},
        on_failure_callback=on_failure_callback,
        on_success_callback=SlackNotifier(
            success="always", mentions=["U024BE7LH"], fields=["dag", "run_id", "reason"]
        ),
    ) as dag:
        EmptyOperator(task_id="last_task")
"""


@pytest.mark.matrix  # this minor's dag-processor callback executor and request models
@pytest.mark.parametrize("is_failure", [True, False])
def test_dag_level_callbacks_get_the_dag_processor_context(tmp_path, monkeypatch, slack_receiver, is_failure):
    """Runs the dag-processor's own callback executor on a real DagCallbackRequest."""
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import DagRun, TaskInstance
    from airflow.callbacks.callback_requests import DagCallbackRequest, DagRunContext
    from airflow.dag_processing.processor import _execute_dag_callbacks

    from platform_kit.version_compat import dag_bag_class

    DagBag = dag_bag_class()

    _use_receiver(monkeypatch, slack_receiver)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    dag_file = tmp_path / "alerts_dag_level.py"
    dag_file.write_text(textwrap.dedent(DAG_LEVEL_DAG))
    bag = DagBag(dag_folder=str(dag_file), safe_mode=False)
    assert bag.import_errors == {}
    run_id = "manual__2026-01-02T03:04:05+00:00"
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    request = DagCallbackRequest(
        filepath=str(dag_file),
        bundle_name="dags-folder",
        bundle_version=None,
        dag_id="alerts_dag_level",
        run_id=run_id,
        is_failure_callback=is_failure,
        msg="task_failure" if is_failure else "success",
        context_from_server=DagRunContext(
            dag_run=DagRun(
                dag_id="alerts_dag_level",
                run_id=run_id,
                logical_date=None,
                data_interval_start=None,
                data_interval_end=None,
                run_after=started,
                start_date=started,
                end_date=None,
                run_type="manual",
                state="failed" if is_failure else "success",
                consumed_asset_events=[],
                # partition_key is a field from 3.2 on; 3.1's model forbids unknown fields.
                **({"partition_key": None} if "partition_key" in DagRun.model_fields else {}),
            ),
            last_ti=TaskInstance(
                id=uuid.uuid4(),
                task_id="last_task",
                dag_id="alerts_dag_level",
                run_id=run_id,
                try_number=1,
                dag_version_id=uuid.uuid4(),
            ),
        ),
    )
    import structlog

    _execute_dag_callbacks(bag, request, structlog.get_logger("dag-processor"))

    messages = slack_receiver.state.messages
    assert len(messages) == 1
    body = _normalise(messages[0]["body"])
    link = f"{BASE_URL}/dags/alerts_dag_level/runs/{requests.utils.quote(run_id, safe='')}"
    if is_failure:
        header = "\U0001f534 DAG run failed: alerts_dag_level"
        fields = [
            ("DAG", "alerts_dag_level"),
            ("Run", run_id),
            ("State", "failed"),
            ("Duration", "<duration>"),
            ("Run after", "2026-01-02T03:04:05+00:00"),
            ("Owner", "platform"),
            ("Reason", "task_failure"),
        ]
        assert body == _task_payload(header, fields, [_section(f"<{link}|View run>")], [f"Run: {link}"])
        assert "exception" not in json.dumps(body).lower()
    else:
        header = "\u2705 DAG run succeeded: alerts_dag_level"
        fields = [("DAG", "alerts_dag_level"), ("Run", run_id), ("Reason", "success")]
        # Mentions are for failures only: a success never pages anyone.
        assert body == _task_payload(header, fields, [], [])


# ------------------------------------------------------------------------------------ delivery faults


def _failure_context(task_id: str = "load", run_id: str = "manual__1") -> dict:
    """A task-level failure context as the dag-processor builds it for a killed task."""
    from types import SimpleNamespace

    dag = SimpleNamespace(dag_id="storm", tags=[], default_args={"owner": "platform"})
    ti = SimpleNamespace(
        dag_id="storm",
        task_id=task_id,
        run_id=run_id,
        map_index=-1,
        try_number=1,
        max_tries=0,
        state="failed",
        start_date=None,
        end_date=None,
        log_url=f"{BASE_URL}/dags/storm/runs/{run_id}/tasks/{task_id}",
    )
    return {
        "dag": dag,
        "ti": ti,
        "task": SimpleNamespace(owner="platform", task_id=task_id),
        "run_id": run_id,
        "exception": ValueError(f"{task_id} broke"),
    }


def test_429_with_retry_after_is_waited_out_then_delivered(scripted, monkeypatch):
    server = scripted([(429, {"Retry-After": "1"}), (200, {})])
    result = post_json(f"{server.url}/{SECRET_PATH}", {"text": "hi"}, target="slack_default")
    assert result.ok and result.attempts == 2
    (first, _), (second, body) = server.requests
    assert second - first >= 0.9  # Retry-After: 1 was honoured, not a blind immediate retry
    assert body == {"text": "hi"}


def test_a_retry_after_beyond_the_cap_is_dropped_without_waiting(scripted, caplog):
    server = scripted([(429, {"Retry-After": "120"})])
    with caplog.at_level(logging.ERROR, logger="platform_kit"):
        result = post_json(
            server.url, {"text": "hi"}, target="slack_default", options=DeliveryOptions(total_timeout=5)
        )
    assert not result.ok and result.status == 429 and result.elapsed < 5
    assert "HTTP 429" in result.reason and "would pass" in result.reason
    assert len(server.requests) == 1


def test_5xx_is_retried_with_backoff_then_delivered(scripted):
    server = scripted([(500, {}), (503, {}), (200, {})])
    result = post_json(server.url, {"text": "x"}, target="slack_default")
    assert result.ok and result.attempts == 3 and len(server.requests) == 3


def test_a_persistent_500_is_dropped_and_logged_once_with_the_reason(slack_receiver, monkeypatch, caplog):
    url = _use_receiver(monkeypatch, slack_receiver, total_timeout=6, connect_timeout=1, timeout=2)
    _control(slack_receiver, status=500)
    with caplog.at_level(logging.DEBUG):
        on_failure_callback(_failure_context())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert "Failure alert for storm.load to slack_default dropped after" in message
    assert "HTTP 500 rollup_error" in message
    assert slack_receiver.state.attempts >= 2 and slack_receiver.state.messages == []
    # The webhook URL and its token appear in no log line, urllib3's retry warnings included.
    assert "s3cr3tT0k3n" not in caplog.text and url not in caplog.text


def test_an_unreachable_endpoint_is_dropped_within_the_cap(monkeypatch, caplog):
    from twin.pgcluster import free_port

    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_DEFAULT",
        json.dumps(
            {
                "conn_type": "slackwebhook",
                "password": f"http://127.0.0.1:{free_port()}/{SECRET_PATH}",
                "extra": {"total_timeout": 4},
            }
        ),
    )
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        on_failure_callback(_failure_context())
    elapsed = time.monotonic() - started
    # The contract: return within the cap (+1 s); a bound, not a benchmark.
    assert elapsed < 4 + 1
    assert "connection refused" in caplog.text
    assert "s3cr3tT0k3n" not in caplog.text


HANG_DAG = """
    import pendulum
    from airflow.sdk import DAG, task

    from platform_kit.alerts import SlackNotifier, on_failure_callback

    with DAG(
        "alerts_dagtest",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        default_args={"owner": "data-eng", "retries": 0, "on_failure_callback": on_failure_callback,
                      "on_success_callback": SlackNotifier(success="always")},
    ) as dag:

        @task
        def fails():
            raise ValueError("expected")

        @task
        def succeeds():
            return 1

        fails()
        succeeds()
"""


def test_a_receiver_that_never_answers_leaves_task_states_unchanged(migrated_home, tmp_path, slack_receiver):
    _control(slack_receiver, hang=True, hang_seconds=60)
    conn = {
        "conn_type": "slackwebhook",
        "password": f"{slack_receiver.url}/{SECRET_PATH}",
        "extra": {"timeout": 2, "connect_timeout": 1, "total_timeout": 5},
    }
    result = run_dag_test(migrated_home, tmp_path, HANG_DAG, {"AIRFLOW_CONN_SLACK_DEFAULT": json.dumps(conn)})
    assert result["tasks"] == {"fails": "failed", "succeeds": "success"}
    dropped = re.findall(
        r"[A-Z]\w+ alert for \S+ to slack_default dropped after 1 attempt\(s\) in [\d.]+ s: no answer",
        result["output"],
    )
    assert len(dropped) == 2, result["output"][-4000:]
    assert "s3cr3tT0k3n" not in result["output"]
    assert slack_receiver.state.attempts == 2  # a read timeout is never retried: no duplicate alerts


def test_storm_every_alert_is_delivered_or_logged_as_dropped(slack_receiver, monkeypatch, caplog):
    """100 failure callbacks at once against 1 message/s: none may vanish silently."""
    _use_receiver(monkeypatch, slack_receiver, total_timeout=6, connect_timeout=1, timeout=2)
    _control(slack_receiver, rate_per_second=1)
    task_ids = [f"t{i:03d}" for i in range(100)]
    contexts = [_failure_context(task_id=task_id) for task_id in task_ids]
    with caplog.at_level(logging.INFO, logger="platform_kit"):
        threads = [threading.Thread(target=on_failure_callback, args=(ctx,)) for ctx in contexts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)

    delivered = [
        m["body"]["blocks"][0]["text"]["text"].rsplit(".", 1)[1] for m in slack_receiver.state.messages
    ]
    messages = [r.getMessage() for r in caplog.records]
    sent = [re.search(r"storm\.(t\d+)", m).group(1) for m in messages if m.startswith("Sent failure alert")]
    dropped = {
        re.search(r"storm\.(t\d+)", m).group(1): m
        for m in messages
        if m.startswith("Failure alert for storm.") and " dropped after " in m
    }
    # Every alert is accounted for exactly once, by name: sent, or dropped with its reason in the log.
    assert sorted(sent + list(dropped)) == sorted(task_ids)
    assert len(delivered) == len(set(delivered))  # no alert posted twice
    # What Slack accepted was logged as sent, unless the answer never came back (then it is logged dropped).
    assert set(sent) <= set(delivered)
    assert all("read timeout" in dropped[t] for t in set(delivered) - set(sent))
    assert 1 <= len(sent) < 100
    assert any("HTTP 429" in reason for reason in dropped.values())  # the rate limit was what dropped them


# ---------------------------------------------------------------------------- other delivery paths


def test_telegram_target_gets_a_bot_api_sendmessage(slack_receiver, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_OPS",
        json.dumps(
            {
                "conn_type": "telegram",
                "password": "123456:ABCsecret",
                "host": "-100777",
                "extra": {"api_base_url": slack_receiver.url},
            }
        ),
    )
    context = _failure_context()
    context["dag"].tags = ["team:ops"]
    on_failure_callback(context)
    (message,) = slack_receiver.state.messages
    assert message["path"] == "/bot123456:ABCsecret/sendMessage"
    body = message["body"]
    assert body["chat_id"] == "-100777" and body["parse_mode"] == "HTML"
    assert body["text"].splitlines()[0] == "<b>\U0001f534 Failed: storm.load</b>"
    assert "<pre>ValueError: load broke</pre>" in body["text"]


def test_send_summary_posts_the_maintenance_facts(slack_receiver, monkeypatch):
    from platform_kit.summary import report

    _use_receiver(monkeypatch, slack_receiver, conn_id="slack_platform")
    facts = {"files_deleted": 12, "bytes_freed": "3.0 MiB", "dags": ["a<b", "c&d"]}
    assert report("Log cleanup", facts, slack_conn_id="slack_platform") == facts
    (message,) = slack_receiver.state.messages
    assert message["body"]["blocks"][0]["text"]["text"] == "\U0001f4cb Log cleanup"
    assert message["body"]["blocks"][1]["text"]["text"] == (
        '*files_deleted:* 12\n*bytes_freed:* 3.0 MiB\n*dags:* ["a&lt;b", "c&amp;d"]'
    )
    assert send_summary("x", {}, conn_id="slack_missing") is False


@pytest.mark.matrix  # the connection lookup of this minor from a plain shell
def test_cli_sends_a_test_alert(slack_receiver, monkeypatch, capsys):
    from platform_kit.cli import main

    _use_receiver(monkeypatch, slack_receiver, conn_id="slack_data")
    assert main(["alerts", "test", "--conn-id", "slack_data"]) == 0
    assert "Test alert delivered to slack_data" in capsys.readouterr().out
    assert slack_receiver.state.messages[0]["body"]["text"].startswith(
        "\U0001f9ea Test alert from platform-kit"
    )
    _control(slack_receiver, status=500)
    connections.clear_cache()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_DATA",
        json.dumps(
            {
                "conn_type": "slackwebhook",
                "password": f"{slack_receiver.url}/{SECRET_PATH}",
                "extra": {"total_timeout": 3},
            }
        ),
    )
    assert main(["alerts", "test", "--conn-id", "slack_data"]) == 2
    err = capsys.readouterr().err
    assert "not delivered: HTTP 500" in err and "s3cr3tT0k3n" not in err


def test_the_same_alert_twice_is_sent_once_but_a_dropped_one_is_tried_again(slack_receiver, monkeypatch):
    _use_receiver(monkeypatch, slack_receiver, total_timeout=3)
    context = _failure_context(run_id="manual__dedup")
    _control(slack_receiver, status=500)
    on_failure_callback(context)
    assert slack_receiver.state.messages == []
    _control(slack_receiver)
    on_failure_callback(context)
    on_failure_callback(context)
    assert len(slack_receiver.state.messages) == 1


def test_a_killed_task_failure_says_no_exception_was_captured(slack_receiver, monkeypatch):
    """The dag-processor runs failure callbacks for tasks whose process died; their context has no
    exception."""
    from platform_kit.alerts.notifier import NO_EXCEPTION_NOTE

    _use_receiver(monkeypatch, slack_receiver)
    context = _failure_context(run_id="manual__killed")
    del context["exception"]
    on_failure_callback(context)
    (message,) = slack_receiver.state.messages
    assert f"Error: {NO_EXCEPTION_NOTE}" in message["body"]["text"]

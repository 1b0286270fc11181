"""The alert message: what it says, escaping, and Slack/Telegram limits for any input."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from platform_kit.alerts.context import alert_from_context, alert_kind_from_context, normalise_mentions
from platform_kit.alerts.message import Alert
from platform_kit.alerts.slack import (
    SLACK_HEADER_LIMIT,
    SLACK_MAX_BLOCKS,
    SLACK_TEXT_LIMIT,
    check_slack_limits,
    render_slack,
    render_text,
)
from platform_kit.alerts.telegram import TELEGRAM_TEXT_LIMIT, render_telegram
from platform_kit.alerts.text import describe_exception, fit_escaped

pytestmark = pytest.mark.unit

NASTY = "<script>alert('x')</script> & <@U123> <!channel> a > b"


def _all_texts(payload: dict) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        texts.extend(f["text"] for f in block.get("fields", []))
        texts.extend(e["text"] for e in block.get("elements", []))
    return texts


def _failure(**overrides) -> Alert:
    values = dict(
        kind="failure",
        dag_id="sales",
        task_id="load",
        run_id="scheduled__2026-01-02T00:00:00+00:00",
        try_number=3,
        max_attempts=3,
        state="failed",
        duration_seconds=75.2,
        logical_date=datetime(2026, 1, 2, tzinfo=UTC),
        owner="data-eng",
        exception="ValueError: bad row",
        log_url="https://airflow.example.com/dags/sales/runs/r/tasks/load?try_number=3",
    )
    values.update(overrides)
    return Alert(**values)


def test_failure_alert_carries_every_fact_an_on_call_engineer_needs():
    payload = render_slack(_failure())
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "\U0001f534 Failed: sales.load", "emoji": True},
    }
    assert [f["text"] for f in payload["blocks"][1]["fields"]] == [
        "*DAG:*\nsales",
        "*Task:*\nload",
        "*Run:*\nscheduled__2026-01-02T00:00:00+00:00",
        "*Try:*\n3 of 3",
        "*State:*\nfailed",
        "*Duration:*\n1m 15s",
        "*Logical date:*\n2026-01-02T00:00:00+00:00",
        "*Owner:*\ndata-eng",
    ]
    assert payload["blocks"][2]["text"]["text"] == "*Error*\n```ValueError: bad row```"
    assert payload["blocks"][3]["text"]["text"] == (
        "<https://airflow.example.com/dags/sales/runs/r/tasks/load?try_number=3|View log>"
    )
    assert payload["text"].splitlines()[0] == "\U0001f534 Failed: sales.load"
    assert check_slack_limits(payload) == []


def test_a_retry_alert_reads_as_a_retry_never_as_a_failure():
    alert = _failure(kind="retry", try_number=1, state="up_for_retry")
    payload = render_slack(alert)
    header = payload["blocks"][0]["text"]["text"]
    assert header == "\U0001f7e0 Retrying after try 1 of 3: sales.load"
    assert "fail" not in header.lower()
    assert "\U0001f534" not in json.dumps(payload, ensure_ascii=False)
    assert payload["text"].startswith("\U0001f7e0 Retrying")


def test_user_text_is_escaped_everywhere_but_links_and_mentions_stay_slack_syntax():
    alert = _failure(
        dag_id=f"d{NASTY}",
        task_id=f"t{NASTY}",
        exception=f"KeyError: {NASTY}",
        owner=NASTY,
        note=NASTY,
        mentions=("<@U024BE7LH>",),
        log_url="https://airflow.example.com/x?a=1&b=<2>",
    )
    payload = render_slack(alert)
    for text in _all_texts(payload):
        stripped = re.sub(r"<@U024BE7LH>", "", text)
        stripped = re.sub(r"<https://[^|>]+\|View log>", "", stripped)
        assert "<" not in stripped and ">" not in stripped, text
        assert not re.search(r"&(?!amp;|lt;|gt;)", stripped), text
    assert payload["blocks"][1]["text"]["text"] == "<@U024BE7LH>"
    assert "<https://airflow.example.com/x?a=1&amp;b=%3C2%3E|View log>" in json.dumps(payload)


@pytest.mark.parametrize("kind", ["failure", "retry", "recovery", "summary"])
def test_oversized_input_still_fits_every_slack_limit(kind):
    alert = _failure(
        kind=kind,
        dag_id="d" * 5_000,
        task_id="t&" * 3_000,
        run_id="<r>" * 2_000,
        owner="o" * 9_000,
        exception=describe_exception(RuntimeError("<&>" * 50_000)),
        note="n&" * 9_000,
        facts=tuple((f"key{i}&", "<value>" * 300) for i in range(400)),
        title="T" * 400,
    )
    payload = render_slack(alert)
    assert check_slack_limits(payload) == []
    assert len(payload["text"]) <= SLACK_TEXT_LIMIT
    assert len(payload["blocks"]) <= SLACK_MAX_BLOCKS
    assert len(payload["blocks"][0]["text"]["text"]) <= SLACK_HEADER_LIMIT
    # Truncation happens before escaping: no entity is ever cut in half.
    for text in _all_texts(payload):
        assert not re.search(r"&(amp|lt|gt)?…", text.replace("&amp;…", "").replace("&lt;…", "")), text[-20:]


def test_fit_escaped_never_splits_an_entity_and_respects_the_limit():
    for limit in range(1, 60):
        for raw in ("&" * 100, "<>" * 50, "a&b<c>d" * 20):
            result = fit_escaped(raw, limit)
            assert len(result) <= limit
            body = result.removesuffix("…")
            assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*", body), (limit, raw, result)


def test_the_limit_checker_reports_what_slack_would_reject():
    payload = {
        "text": "x" * (SLACK_TEXT_LIMIT + 1),
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
        + [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3_001}}]
        + [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}] * 49,
    }
    problems = check_slack_limits(payload)
    assert any(p.startswith("text:") for p in problems)
    assert "blocks: 51 > 50" in problems
    assert any("header" in p for p in problems)
    assert any("section text: 3001" in p for p in problems)
    assert any("fields: 11 > 10" in p for p in problems)
    assert check_slack_limits({"blocks": []}) == [
        "text: missing (Slack needs it as the notification fallback)"
    ]


def test_exceptions_are_described_in_one_readable_line_and_cut():
    assert describe_exception(ValueError("bad row 7")) == "ValueError: bad row 7"
    assert describe_exception(KeyboardInterrupt()) == "KeyboardInterrupt"
    long = describe_exception(RuntimeError("x" * 10_000))
    assert len(long) <= 1_500 and long.endswith("(truncated, see the log)")
    assert describe_exception(None) is None


def test_mentions_accept_the_forms_people_type():
    assert normalise_mentions(["U1", "@U2", "<@U3>", "here", "@channel", "subteam^S1", " "]) == [
        "<@U1>",
        "<@U2>",
        "<@U3>",
        "<!here>",
        "<!channel>",
        "<!subteam^S1>",
    ]


def test_a_localhost_log_link_comes_with_a_visible_warning():
    payload = render_slack(_failure(log_url="http://localhost:8080/dags/sales/runs/r/tasks/load"))
    context = [b for b in payload["blocks"] if b["type"] == "context"]
    assert context and "[api] base_url" in context[0]["elements"][0]["text"]
    assert not [b for b in render_slack(_failure())["blocks"] if b["type"] == "context"]


def test_fields_option_limits_what_is_shown():
    payload = render_slack(_failure(fields=("dag", "task", "exception")))
    assert [f["text"] for f in payload["blocks"][1]["fields"]] == ["*DAG:*\nsales", "*Task:*\nload"]
    assert "View log" not in json.dumps(payload)
    assert "Try" not in payload["text"]


def test_telegram_rendering_escapes_html_and_stays_under_its_limit():
    body = render_telegram(_failure(exception=f"E: {NASTY}"), chat_id="-100")
    assert body["parse_mode"] == "HTML" and body["chat_id"] == "-100"
    assert "&lt;script&gt;" in body["text"] and "<script>" not in body["text"]
    assert body["text"].startswith("<b>\U0001f534 Failed: sales.load</b>")
    huge = render_telegram(_failure(facts=tuple((f"k{i}", "v" * 200) for i in range(100))), chat_id="-1")
    assert "parse_mode" not in huge and len(huge["text"]) <= TELEGRAM_TEXT_LIMIT


# --- from contexts: the shapes Airflow passes (attributes only; real runs are in the integration tests)


def _task_context(state: str, **ti_attrs):
    dag = SimpleNamespace(dag_id="sales", tags=[], default_args={"owner": "data-eng"})
    ti = SimpleNamespace(
        dag_id="sales",
        task_id="load",
        run_id="manual__1",
        map_index=-1,
        try_number=2,
        max_tries=2,
        state=state,
        start_date=datetime(2026, 1, 2, 0, 0, tzinfo=UTC),
        end_date=datetime(2026, 1, 2, 0, 1, 5, tzinfo=UTC),
        log_url="https://af/dags/sales/runs/manual__1/tasks/load?try_number=2",
    )
    for key, value in ti_attrs.items():
        setattr(ti, key, value)
    dag_run = SimpleNamespace(
        logical_date=None, run_after=datetime(2026, 1, 2, tzinfo=UTC), run_id="manual__1"
    )
    task = SimpleNamespace(task_id="load", owner="data-eng", retries=2)
    return {
        "dag": dag,
        "ti": ti,
        "task_instance": ti,
        "dag_run": dag_run,
        "task": task,
        "run_id": "manual__1",
    }


def test_a_run_without_logical_date_shows_run_after():
    alert = alert_from_context({**_task_context("failed"), "exception": ValueError("x")})
    values = dict(alert.field_values())
    assert "Logical date" not in values
    assert values["Run after"] == "2026-01-02T00:00:00+00:00"
    assert values["Try"] == "2 of 3"
    assert values["Duration"] == "1m 5s"


def test_the_kind_is_read_from_the_context_when_not_given():
    assert alert_kind_from_context(_task_context("up_for_retry")) == "retry"
    assert alert_kind_from_context(_task_context("failed")) == "failure"
    assert alert_kind_from_context(_task_context("success")) == "success"
    assert alert_kind_from_context({"dag": None, "run_id": "r", "reason": "task_failure"}) == "failure"
    assert alert_kind_from_context({"dag": None, "run_id": "r", "reason": "success"}) == "success"


def test_a_minimal_dag_level_context_still_gives_a_useful_alert():
    dag = SimpleNamespace(dag_id="sales", tags=[], default_args={}, owner="platform")
    alert = alert_from_context({"dag": dag, "run_id": "manual__1", "reason": "timed_out"})
    assert alert.is_dag_level
    assert alert.headline() == "\U0001f534 DAG run failed: sales"
    assert dict(alert.field_values())["Reason"] == "timed_out"
    assert alert.log_url.endswith("/dags/sales/runs/manual__1")
    payload = render_slack(alert)
    assert "View run" in json.dumps(payload) and check_slack_limits(payload) == []


def test_plain_text_rendering_is_the_same_message_without_blocks():
    text = render_text(_failure(mentions=("<!here>",)))
    assert text.splitlines()[:2] == ["<!here>", "\U0001f534 Failed: sales.load"]
    assert "Error: ValueError: bad row" in text


def test_dag_files_importing_the_callbacks_do_not_load_requests():
    """DAG files are parsed often: the alert machinery (requests, urllib3) loads only when one fires."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from platform_kit.alerts import SlackNotifier, on_failure_callback, on_retry_callback\n"
        "SlackNotifier(mentions=['here'])\n"
        "print(sorted(m for m in ('requests', 'urllib3', 'boto3', 'psycopg') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"

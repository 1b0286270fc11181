"""The sandbox's Slack receiver page draws what Slack would: Block Kit, mrkdwn, links; all escaped."""

from __future__ import annotations

import html
import re

import pytest
import requests

from platform_kit.alerts.message import Alert
from platform_kit.alerts.slack import render_slack
from twin.receiver import ReceiverServer, mrkdwn, render_message

pytestmark = pytest.mark.unit

LOG_URL = (
    "http://127.0.0.1:8080/dags/nightly_orders/runs/manual__2026-01-01T00:00:00+00:00/tasks/load_orders"
    "?try_number=2&map_index=-1"
)


def _hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<a href="([^"]*)"', page)]


def test_an_alert_from_the_kit_is_drawn_with_its_header_facts_and_a_clickable_log_link():
    alert = Alert(
        kind="failure",
        title="Task load_orders failed",
        facts=(("Dag", "nightly_orders"), ("Owner", "data_platform_team")),
        log_url=LOG_URL,
    )
    page = render_message(render_slack(alert))
    assert re.search(r"<h3>[^<]*Task load_orders failed</h3>", page)
    assert "<b>Dag:</b> nightly_orders" in page
    assert "data_platform_team" in page  # underscores inside words are not italics
    assert _hrefs(page) == [LOG_URL]  # the "View log" link, with its query string intact
    assert ">View log</a>" in page
    assert "<summary>text fallback</summary>" in page


def test_everything_is_escaped_and_only_web_links_are_clickable():
    hostile = {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "<script>alert(1)</script>"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": '<javascript:alert(1)|click> <https://ok.example/a"onmouseover=x|fine> '
                    "&lt;img src=x onerror=alert(2)&gt;",
                },
                "fields": [{"type": "mrkdwn", "text": '*A:* <img src="x">'}],
            },
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "url": "data:x"}
                ],
            },
        ],
    }
    page = render_message(hostile)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert _hrefs(page) == ['https://ok.example/a"onmouseover=x']  # quoted inside the attribute
    assert 'href="https://ok.example/a&quot;onmouseover=x"' in page  # the quote cannot end the attribute


def test_mrkdwn_formatting_mentions_and_bare_links():
    out = mrkdwn("*Run* _late_ ~old~ `a*b` <@U123> <!here> see https://x.example/a_b?c=1&amp;d=2.")
    assert "<b>Run</b> <i>late</i> <s>old</s> <code>a*b</code> @U123 @here" in out
    assert _hrefs(out) == ["https://x.example/a_b?c=1&d=2"]
    assert out.endswith("</a>.")  # the sentence's full stop is not part of the link
    assert mrkdwn("```<b>not bold</b>```") == "<pre>&lt;b&gt;not bold&lt;/b&gt;</pre>"


def test_the_served_page_draws_blocks_and_keeps_the_webhook_token_hidden():
    server = ReceiverServer().start()
    try:
        payload = render_slack(Alert(kind="recovery", title="Airflow scheduler recovered", log_url=LOG_URL))
        requests.post(f"{server.url}/services/T0/B0/secret-token", json=payload, timeout=10)
        page = requests.get(f"{server.url}/", timeout=10).text
    finally:
        server.stop()
    assert "Airflow scheduler recovered</h3>" in page
    assert LOG_URL in _hrefs(page)
    assert "secret-token" not in page and "/services/T0/B0/***" in page

"""The Platform page: one self-contained HTML document (inline CSS, a few lines of optional script).

It is shown inside the Airflow UI (an ``external_views`` entry renders it in a same-origin iframe) and
works on its own as well. Links into the Airflow UI are built from ``ui_root``, the path the UI is
served under, so the page works behind a proxy prefix. Every value is escaped. Nothing here reads the
DB: :func:`render` turns a reading and its verdicts into text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from html import escape
from urllib.parse import quote

from platform_kit.status import catalog
from platform_kit.status.model import Component, DagStatus, PlatformStatus, RunDetail, TaskTry
from platform_kit.status.summaries import describe
from platform_kit.status.verdicts import LAST_RUN_FAILED, Finding, verdict
from platform_kit.utils import human_duration

REFRESH_SECONDS = 60
COMPONENT_NAMES = {
    "metadatabase": "Metadata DB",
    "scheduler": "Scheduler",
    "dag_processor": "DAG processor",
    "triggerer": "Triggerer",
}
STATE_LABELS = {"success": "success", "failed": "failed", "running": "running", "queued": "queued"}

STYLE = """
:root { color-scheme: light; --fg:#1a202c; --muted:#5f6b7a; --bg:#ffffff; --line:#e2e8f0; --head:#f7fafc;
  --link:#0b63c5; --green:#15803d; --green-bg:#dcfce7; --amber:#a16207; --amber-bg:#fef3c7;
  --red:#b91c1c; --red-bg:#fee2e2; --grey:#475569; --grey-bg:#e2e8f0; }
:root.dark { color-scheme: dark; --fg:#e2e8f0; --muted:#94a3b8; --bg:#111827; --line:#2d3748; --head:#1a202c;
  --link:#63b3ed; --green:#4ade80; --green-bg:#14532d; --amber:#fcd34d; --amber-bg:#713f12;
  --red:#fca5a5; --red-bg:#7f1d1d; --grey:#cbd5e1; --grey-bg:#334155; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 24px; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
  Arial, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; margin-bottom: 14px; }
h1 { font-size: 22px; margin: 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  margin: 18px 0 8px; }
.meta { color: var(--muted); font-size: 13px; }
a { color: var(--link); text-decoration: none; } a:hover { text-decoration: underline; }
.components { display: flex; gap: 10px; flex-wrap: wrap; }
.component { border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; min-width: 170px; }
.component .name { font-weight: 600; } .component .detail { color: var(--muted); font-size: 12px; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; }
.dot.green { background: var(--green); } .dot.red { background: var(--red); }
.dot.grey { background: var(--grey); }
table { width: 100%; border-collapse: collapse; border: 1px solid var(--line); border-radius: 8px; }
th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600; background: var(--head);
  padding: 8px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
tr:last-child td { border-bottom: 0; }
.pill { display: inline-block; border-radius: 999px; padding: 1px 10px; font-weight: 700; font-size: 12px;
  letter-spacing: .04em; text-transform: uppercase; }
.pill.green { color: var(--green); background: var(--green-bg); }
.pill.amber { color: var(--amber); background: var(--amber-bg); }
.pill.red { color: var(--red); background: var(--red-bg); }
.rule { margin-top: 4px; font-weight: 600; } .rule.green { font-weight: 400; }
.more { color: var(--muted); font-size: 12px; margin-top: 2px; }
.state { font-weight: 600; } .state.success { color: var(--green); } .state.failed { color: var(--red); }
.state.running, .state.queued { color: var(--amber); }
.dagid { color: var(--muted); font-size: 12px; }
.facts { margin: 0; padding: 0; list-style: none; } .facts li { display: inline; }
.facts li + li::before { content: " · "; color: var(--muted); }
.links { white-space: nowrap; font-size: 13px; }
.when { white-space: nowrap; } td.verdict { min-width: 220px; }
.error { border: 1px solid var(--red); color: var(--red); background: var(--red-bg); padding: 10px 12px;
  border-radius: 8px; margin-bottom: 12px; }
footer { margin-top: 14px; color: var(--muted); font-size: 12px; }
"""

# Optional behaviour, the page reads fine without it: follow the Airflow UI's light/dark theme, open
# Airflow links in the UI itself rather than inside the frame (the frame may not navigate the top
# window, so the link is clicked from the UI's own document), and refresh while visible.
SCRIPT = f"""
(function () {{
  var root = document.documentElement;
  function followTheme() {{
    try {{ var top = window.top.document.documentElement;
      root.classList.toggle("dark", top.classList.contains("dark")); }} catch (e) {{}}
  }}
  followTheme();
  try {{ new MutationObserver(followTheme).observe(window.top.document.documentElement,
      {{attributes: true, attributeFilter: ["class"]}}); }} catch (e) {{}}
  document.addEventListener("click", function (event) {{
    var link = event.target.closest("a[data-ui]");
    if (!link || window.top === window || event.button !== 0 || event.ctrlKey || event.metaKey ||
        event.shiftKey) return;
    try {{
      var doc = window.top.document, proxy = doc.createElement("a");
      proxy.href = link.href; doc.body.appendChild(proxy); proxy.click(); proxy.remove();
      event.preventDefault();
    }} catch (e) {{}}
  }});
  setInterval(function () {{ if (!document.hidden) location.reload(); }}, {REFRESH_SECONDS * 1000});
}})();
"""


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return ""
    return f"{human_duration((now - then).total_seconds())} ago"


def _time(now: datetime, then: datetime | None) -> str:
    """``3 h ago`` with the exact UTC time as a tooltip."""
    if then is None:
        return ""
    exact = then.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<span title="{exact}">{escape(_ago(now, then))}</span>'


class Links:
    """URLs into the Airflow UI under ``ui_root`` (``""`` when the UI is served at ``/``)."""

    def __init__(self, ui_root: str) -> None:
        self.root = ui_root.rstrip("/")

    def dag(self, dag_id: str) -> str:
        return f"{self.root}/dags/{quote(dag_id, safe='')}"

    def run(self, dag_id: str, run_id: str) -> str:
        return f"{self.dag(dag_id)}/runs/{quote(run_id, safe='')}"

    def log(self, dag_id: str, run_id: str, task: TaskTry) -> str:
        url = f"{self.run(dag_id, run_id)}/tasks/{quote(task.task_id, safe='')}"
        if task.map_index >= 0:
            url += f"/mapped/{task.map_index}"
        return url + (f"?try_number={task.try_number}" if task.try_number else "")


def _a(href: str, text: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<a data-ui href="{escape(href)}" target="_top"{cls}>{text}</a>'


def _report_task(dag: DagStatus, detail: RunDetail) -> TaskTry | None:
    named = detail.task(dag.dag.report_task)
    if named is not None:
        return named
    return next((t for t in detail.tasks if dag.dag.holds_summary(t.task_id)), None)


def _verdict_cell(dag: DagStatus, findings: list[Finding], links: Links) -> str:
    level = verdict(findings)
    first, rest = findings[0], findings[1:]
    rule = escape(first.rule)
    last = dag.last_run
    if first.key == LAST_RUN_FAILED and last is not None and last.failed_tasks:
        failed = next((t for t in last.failed_tasks if t.state == "failed"), last.failed_tasks[0])
        rule = _a(links.log(dag.dag_id, last.run.run_id, failed), rule)
    more = "".join(f'<div class="more">{escape(f.level)}: {escape(f.rule)}</div>' for f in rest)
    return (
        f'<span class="pill {level}">{level}</span>'
        f'<div class="rule {first.level}" data-rule>{rule}</div>{more}'
    )


def _last_run_cell(dag: DagStatus, now: datetime, links: Links) -> str:
    if dag.last_run is None:
        return '<span class="dagid">never ran</span>'
    run = dag.last_run.run
    state = STATE_LABELS.get(run.state, run.state)
    badge = _a(
        links.run(dag.dag_id, run.run_id), f'<span class="state {escape(run.state)}">{escape(state)}</span>'
    )
    return f'<div class="when">{badge} · {_time(now, run.when)}</div>'


def _summary_cell(dag: DagStatus, links: Links) -> str:
    detail = dag.last_verified if dag.dag.kind == catalog.BACKUP else dag.last_success
    facts = describe(dag)
    if detail is None or not facts:
        return '<span class="dagid">no successful run to summarise</span>'
    items = "".join(f"<li>{escape(fact)}</li>" for fact in facts)
    task = _report_task(dag, detail)
    run_link = _a(links.run(dag.dag_id, detail.run.run_id), "run")
    log_link = f" · {_a(links.log(dag.dag_id, detail.run.run_id, task), 'log')}" if task else ""
    return f'<ul class="facts">{items}</ul><div class="links">{run_link}{log_link}</div>'


NEVER = '<span class="dagid">never</span>'


def _row(dag: DagStatus, findings: list[Finding], now: datetime, links: Links) -> str:
    if not dag.deployed:
        schedule = '<span class="dagid">not deployed</span>'
    elif dag.stale:
        schedule = '<span class="state failed">file gone</span>'
    else:
        schedule = '<span class="state running">paused</span>' if dag.paused else "active"
    success = dag.last_success.run.when if dag.last_success else None
    name = _a(links.dag(dag.dag_id), escape(dag.dag.title)) if dag.deployed else escape(dag.dag.title)
    return (
        f'<tr data-dag-id="{escape(dag.dag_id)}" data-verdict="{verdict(findings)}">'
        f'<td class="verdict">{_verdict_cell(dag, findings, links)}</td>'
        f'<td>{name}<div class="dagid">{escape(dag.dag_id)}</div></td>'
        f"<td>{schedule}</td>"
        f"<td>{_last_run_cell(dag, now, links)}</td>"
        f'<td class="when">{_time(now, success) or NEVER}</td>'
        f"<td>{_summary_cell(dag, links)}</td>"
        "</tr>"
    )


def _component(now: datetime, component: Component) -> str:
    if component.status is None:
        colour, word = "grey", "never reported"
    else:
        colour, word = ("green", "healthy") if component.healthy else ("red", "UNHEALTHY")
    beat = f"heartbeat {_ago(now, component.heartbeat)}" if component.heartbeat else ""
    name = COMPONENT_NAMES.get(component.name, component.name)
    return (
        f'<div class="component" data-component="{escape(component.name)}" data-status="{escape(word)}">'
        f'<div class="name"><span class="dot {colour}"></span>{escape(name)}: {escape(word)}</div>'
        f'<div class="detail">{escape(beat)}</div></div>'
    )


def render(
    status: PlatformStatus,
    findings: Mapping[str, list[Finding]],
    *,
    ui_root: str = "",
    metrics_url: str = "metrics",
) -> str:
    """The page for one reading.

    :param findings: ``{dag_id: findings}`` from :func:`platform_kit.status.verdicts.judge`.
    :param ui_root: the path the Airflow UI is served under (``""`` at the root).
    :param metrics_url: where the same numbers are served for Prometheus.
    """
    now = status.generated_at
    links = Links(ui_root)
    error = f'<div class="error" role="alert">{escape(status.error)}</div>' if status.error else ""
    rows = "".join(_row(dag, findings[dag.dag_id], now, links) for dag in status.dags)
    table = (
        "<table><thead><tr><th>Verdict</th><th>Maintenance DAG</th><th>Schedule</th><th>Last run</th>"
        f"<th>Last success</th><th>What it did</th></tr></thead><tbody>{rows}</tbody></table>"
        if status.dags
        else ""
    )
    components = "".join(_component(now, c) for c in status.components)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Platform - Airflow</title><style>{STYLE}</style></head>
<body>
<header><h1>Platform</h1><span class="meta">as of {stamp} · Airflow {escape(status.airflow_version)} ·
platform-kit {escape(status.kit_version)} · refreshes every {REFRESH_SECONDS} s</span></header>
{error}
<h2>Components</h2><div class="components">{components}</div>
<h2>Maintenance</h2>{table}
<footer>Verdicts: red = act now, amber = look soon, green = nothing to do; the rule that decided each is
under it. Thresholds are <code>[platform_kit]</code> options (docs/monitoring.md). The same numbers for
Prometheus: <a href="{escape(metrics_url)}">{escape(metrics_url)}</a>.</footer>
<script>{SCRIPT}</script>
</body></html>
"""

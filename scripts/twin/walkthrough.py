"""The README walkthrough, steps 1-5 and 8-9, done in the UI as a person does it.

``tests/e2e/test_readme_walkthrough.py`` runs these steps on the session twin and checks what each one
returns against what the README says; ``scripts/screenshots`` runs them on a fresh twin and keeps the
pictures for the README (``docs/images/``). One script, so the README, its pictures and the test cannot
drift apart. Waiting for a run to finish polls the REST API, as a person would watch the grid.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.browser import TriggerForm, log_in, task_page

MAINTENANCE_DAGS = (
    "platform_kit_log_cleanup",
    "platform_kit_metadb_backup",
    "platform_kit_export",
    "platform_kit_metadb_cleanup",
)
BACKUP = "platform_kit_metadb_backup"
CLEANUP = "platform_kit_metadb_cleanup"
LOG_CLEANUP = "platform_kit_log_cleanup"
ALERTING = "example_platform_kit_alerting"
#: Scroll the first text that contains the argument to the top of its scrolling box (the log viewer).
SCROLL_TO_TEXT = """title => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    if (walker.currentNode.textContent.includes(title)) {
      walker.currentNode.parentElement.scrollIntoView({block: "start"});
      return true;
    }
  }
  return false;
}"""
#: A DAG whose old logs the log cleanup step finds (planted: a fresh sandbox has nothing a month old).
OLD_LOGS_DAG = "nightly_orders"


def plant_old_logs(log_folder: Path, dag_id: str = OLD_LOGS_DAG) -> list[Path]:
    """A 45-day-old task log tree of ``dag_id``, so the dry run has something to report."""
    old = time.time() - 45 * 86400
    planted = []
    for day in range(1, 4):
        folder = log_folder / f"dag_id={dag_id}" / f"run_id=scheduled__2026-10-0{day}T00:00:00+00:00"
        for task in ("extract", "load"):
            path = folder / f"task_id={task}" / "attempt=1.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text('{"event": "done"}\n' * 2000)
            os.utime(path, (old, old))
            planted.append(path)
    for folder in sorted({p.parent for p in planted} | {p.parent.parent for p in planted}, reverse=True):
        os.utime(folder, (old, old))
    return planted


@dataclass
class Walkthrough:
    """The README's steps on a running twin, in one logged-in browser page.

    :param twin: the running twin (its REST client is used only to wait and to read results).
    :param page: a fresh browser page (see :func:`twin.browser.new_page`).
    :param shots: where the screenshots go (named as in ``docs/images/``).
    """

    twin: Any
    page: Any
    shots: Path

    def shot(self, name: str, *, full_page: bool = False) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=self.shots / name, full_page=full_page)

    def wait(self, dag_id: str, run_id: str, timeout: float = 600) -> dict:
        return self.twin.wait_for_run(dag_id, run_id, timeout=timeout)

    # --- 1 ----------------------------------------------------------------------------------------------
    def log_in(self) -> None:
        """Step 1: open the UI and log in as airflow / airflow."""
        from twin.stack import UI_PASSWORD, UI_USER

        log_in(self.page, self.twin.ui_url, UI_USER, UI_PASSWORD, screenshot=self.shots / "01-login.png")

    # --- 2 ----------------------------------------------------------------------------------------------
    def find_the_maintenance_dags(self) -> str:
        """Step 2: filter the DAG list by the tag ``maintenance``; returns the list's text."""
        for dag_id in MAINTENANCE_DAGS:
            self.twin.wait_for_dag(dag_id)
        self.page.goto(f"{self.twin.ui_url}/dags?tags=maintenance")
        for dag_id in MAINTENANCE_DAGS:
            self.page.get_by_text(dag_id, exact=True).first.wait_for()
        self.shot("02-maintenance-dags.png")
        return self.page.inner_text("body")

    def open_form(self, dag_id: str) -> TriggerForm:
        return TriggerForm(self.page, self.twin.ui_url, dag_id)

    # --- 3 ----------------------------------------------------------------------------------------------
    def unpause_with_the_toggle(self, dag_id: str) -> None:
        """Unpause a DAG with the toggle on its page, as the README says for the DB cleanup."""
        self.page.goto(f"{self.twin.ui_url}/dags/{dag_id}")
        toggle = self.page.locator("[data-testid=toggle-pause]").first
        toggle.wait_for()
        if self.twin.get(f"dags/{dag_id}")["is_paused"]:
            toggle.click()
            confirm = self.page.get_by_role("button", name="Confirm")
            if confirm.count():
                confirm.click()
        deadline = time.monotonic() + 60
        while self.twin.get(f"dags/{dag_id}")["is_paused"]:
            assert time.monotonic() < deadline, f"{dag_id} is still paused after its toggle was switched"
            time.sleep(1)

    def back_up(self) -> dict:
        """Step 3: unpause the DB cleanup, trigger the backup with its defaults, read its summary.

        Returns ``{"form": the untouched form's submission, "run": the finished run, "summary": the
        retention task's return_value, "cleanup": the asset-triggered cleanup run and its summary}``.
        """
        self.unpause_with_the_toggle(CLEANUP)
        form = self.open_form(BACKUP)
        self.shot("04-trigger-form.png")
        created = form.submit()
        run = self.wait(BACKUP, created["dag_run_id"])
        result: dict[str, Any] = {"form": created, "run": run}
        if run["state"] != "success":
            return result
        result["summary"] = self.twin.xcom(BACKUP, run["dag_run_id"], "retention")
        self.show_summary(BACKUP, run["dag_run_id"], "retention", "Metadata DB backup")
        self.shot("05-backup-run.png")
        result["cleanup"] = self.cleanup_started_by(run["dag_run_id"])
        return result

    def cleanup_started_by(self, backup_run_id: str, timeout: float = 300) -> dict:
        """The DB cleanup run the backup's Asset event started, once it has finished, with its summary."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run in self.twin.dag_runs(CLEANUP):
                path = f"dags/{CLEANUP}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
                sources = {e["source_run_id"] for e in self.twin.get(path)["asset_events"]}
                if backup_run_id in sources:
                    done = self.wait(CLEANUP, run["dag_run_id"])
                    summary = self.twin.xcom(CLEANUP, run["dag_run_id"], "clean")
                    return {"run": done, "summary": summary}
            time.sleep(2)
        raise TimeoutError(f"no {CLEANUP} run was started by the backup {backup_run_id}")

    # --- 4 ----------------------------------------------------------------------------------------------
    def see_an_alert(self) -> dict:
        """Step 4: trigger the alerting example with ``fail`` ticked; read the receiver page."""
        self.twin.clear_receiver()
        created = self.open_form(ALERTING).set("fail", True).submit()
        run = self.wait(ALERTING, created["dag_run_id"], timeout=300)
        # The DAG-level alert comes from the dag-processor a little after the run fails.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(self.twin.receiver_messages()) < 3:
            time.sleep(2)
        self.page.goto(f"{self.twin.receiver_url}/")
        self.page.get_by_text(ALERTING).first.wait_for()
        self.shot("03-slack-receiver.png")
        return {"form": created, "run": run, "page": self.page.inner_text("body")}

    # --- 5 ----------------------------------------------------------------------------------------------
    def clean_logs(self) -> dict:
        """Step 5: a log cleanup dry run from the form, then the real run; both summaries and log pages.

        Old logs are planted first (a fresh sandbox has nothing a month old). Returns the planted files,
        the dry and the real run with their summaries and log texts, and the scheduled run that unpausing
        the DAG started.
        """
        planted = plant_old_logs(self.twin.log_folder)
        form = self.open_form(LOG_CLEANUP)
        unpauses = form.unpauses()
        dry_created = form.set("dry_run", True).submit()
        dry = self._finished_with_log(LOG_CLEANUP, dry_created, "clean_logs")
        self.shot("06-log-cleanup-summary.png")
        scheduled = self.scheduled_runs_done(LOG_CLEANUP)
        after_dry = [p for p in planted if p.exists()]
        real = self._finished_with_log(LOG_CLEANUP, self.open_form(LOG_CLEANUP).submit(), "clean_logs")
        return {
            "planted": planted,
            "left_after_dry_run": after_dry,
            "unpaused_by_form": unpauses,
            "dry": dry,
            "scheduled": scheduled,
            "real": real,
        }

    # --- 8 ----------------------------------------------------------------------------------------------
    def see_the_platform(self) -> Any:
        """Step 8: open **Platform** in the UI's navigation; returns the frame the page is shown in."""
        self.page.goto(f"{self.twin.ui_url}/")
        self.page.get_by_role("link", name="Platform", exact=True).click()
        frame = self.page.frame_locator("iframe[title=Platform]")
        frame.locator("tr[data-dag-id]").first.wait_for()
        self.shot("10-platform-page.png")
        return frame

    # --- 9 ----------------------------------------------------------------------------------------------
    def see_a_firing_alert(self, timeout: float = 300) -> dict:
        """Step 9: with the scheduler stopped, Prometheus fires ``PlatformKitComponentUnhealthy``; its
        alerts page is photographed and the scheduler started again. Returns the firing alert."""
        from twin.prometheus import firing_alerts, open_alert

        name = "PlatformKitComponentUnhealthy"
        self.twin.stop_component("scheduler")
        try:
            deadline = time.monotonic() + timeout
            firing: list[dict] = []
            while not firing:
                assert time.monotonic() < deadline, f"{name} did not fire within {timeout:.0f}s"
                time.sleep(2)
                firing = [
                    a
                    for a in firing_alerts(self.twin.prometheus_url, name)
                    if a["labels"].get("component") == "scheduler"
                ]
            open_alert(self.page, self.twin.prometheus_url, name)
            self.shot("11-prometheus-alert.png")
        finally:
            self.twin.start_component("scheduler")
        return firing[0]

    def scheduled_runs_done(self, dag_id: str, timeout: float = 300) -> list[dict]:
        """The DAG's scheduled runs, once there is one and all have finished, each with its summary."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = [r for r in self.twin.dag_runs(dag_id) if r["run_type"] == "scheduled"]
            if runs and all(r["state"] in ("success", "failed") for r in runs):
                return [{**r, "summary": self.twin.xcom(dag_id, r["dag_run_id"], "clean_logs")} for r in runs]
            time.sleep(2)
        raise TimeoutError(f"unpausing {dag_id} started no scheduled run, or it did not finish")

    def show_summary(self, dag_id: str, run_id: str, task_id: str, title: str) -> None:
        """Open the task's log and scroll to the run summary, which starts with ``title``."""
        self.page.goto(task_page(self.twin.ui_url, dag_id, run_id, task_id))
        self.page.get_by_text("Post Execute").first.wait_for()
        self.page.evaluate(SCROLL_TO_TEXT, title)

    def _finished_with_log(self, dag_id: str, created: dict, task_id: str) -> dict:
        run = self.wait(dag_id, created["dag_run_id"])
        self.show_summary(dag_id, run["dag_run_id"], task_id, "Log cleanup")
        return {
            "form": created,
            "run": run,
            "summary": self.twin.xcom(dag_id, run["dag_run_id"], task_id),
            "log_page": self.page.inner_text("body"),
        }

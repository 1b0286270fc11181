"""Take the README walkthrough screenshots from a fresh twin: ``scripts/screenshots [OUT_DIR]``.

Runs what the walkthrough tells a user to do (a backup, a log cleanup dry run, a failing example that
alerts) and photographs each step in headless Chromium.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

from twin.browser import chromium_page, log_in
from twin.stack import UI_PASSWORD, UI_USER, start_twin

REPO = Path(__file__).resolve().parents[2]


def _plant_old_logs(log_folder: Path) -> None:
    """A month-old task log tree, so the dry run has something to report."""
    old = time.time() - 45 * 86400
    for day in range(1, 4):
        folder = log_folder / "dag_id=nightly_orders" / f"run_id=scheduled__2026-10-0{day}T00:00:00+00:00"
        for task in ("extract", "load"):
            path = folder / f"task_id={task}" / "attempt=1.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text('{"event": "done"}\n' * 2000)
            os.utime(path, (old, old))


def _task_page(ui: str, dag_id: str, run_id: str, task_id: str) -> str:
    return f"{ui}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}"


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    twin = start_twin(manual_only=True)
    try:
        with chromium_page() as page:
            log_in(page, twin.ui_url, UI_USER, UI_PASSWORD, screenshot=out_dir / "01-login.png")
            for dag_id in (
                "platform_kit_metadb_backup",
                "platform_kit_log_cleanup",
                "platform_kit_export",
                "platform_kit_metadb_cleanup",
            ):
                twin.wait_for_dag(dag_id)
            page.goto(f"{twin.ui_url}/dags?tags=maintenance")
            page.get_by_text("platform_kit_metadb_backup", exact=True).first.wait_for()
            page.screenshot(path=out_dir / "02-maintenance-dags.png")

            run_id = twin.trigger("platform_kit_metadb_backup")
            print("backup:", twin.wait_for_run("platform_kit_metadb_backup", run_id, timeout=600)["state"])
            page.goto(_task_page(twin.ui_url, "platform_kit_metadb_backup", run_id, "verify"))
            page.get_by_text("Post Execute").first.wait_for()  # the log has rendered
            page.screenshot(path=out_dir / "05-backup-run.png")

            _plant_old_logs(twin.log_folder)
            run_id = twin.trigger("platform_kit_log_cleanup", conf={"dry_run": True})
            print("log cleanup:", twin.wait_for_run("platform_kit_log_cleanup", run_id, timeout=300)["state"])
            page.goto(_task_page(twin.ui_url, "platform_kit_log_cleanup", run_id, "clean_logs"))
            page.get_by_text("Post Execute").first.wait_for()
            page.screenshot(path=out_dir / "06-log-cleanup-summary.png")

            twin.clear_receiver()
            run_id = twin.trigger("example_platform_kit_alerting", conf={"fail": True})
            twin.wait_for_run("example_platform_kit_alerting", run_id, timeout=300)
            time.sleep(10)  # the DAG-level alert comes from the dag-processor a little later
            page.goto(f"{twin.receiver_url}/")
            page.get_by_text("example_platform_kit_alerting").first.wait_for()
            page.screenshot(path=out_dir / "03-slack-receiver.png")

            page.goto(f"{twin.s3_endpoint}/moto-api/")
            page.get_by_role("button", name="s3", exact=True).click()
            page.get_by_text("FakeKey").first.wait_for()
            page.screenshot(path=out_dir / "07-storage.png")
    finally:
        twin.stop()
    print(f"screenshots written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images"))

"""Take the README walkthrough screenshots from a fresh twin: ``scripts/screenshots [OUT_DIR]``.

Runs the walkthrough (:mod:`twin.walkthrough`, the same steps the e2e tests check) in headless Chromium:
every run is started from its trigger form, as the README tells a person to; then the Platform page and
Prometheus firing an alert while the scheduler is stopped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from twin.browser import chromium, new_page
from twin.stack import start_twin
from twin.walkthrough import Walkthrough

REPO = Path(__file__).resolve().parents[2]


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    twin = start_twin(manual_only=True)
    try:
        with chromium() as browser:
            steps = Walkthrough(twin, new_page(browser), out_dir)
            steps.log_in()
            steps.find_the_maintenance_dags()
            backup = steps.back_up()
            print("backup:", backup["run"]["state"])
            print("alerting example:", steps.see_an_alert()["run"]["state"])
            logs = steps.clean_logs()
            print("log cleanup:", logs["dry"]["run"]["state"], "then", logs["real"]["run"]["state"])
            steps.see_the_platform()
            print("Prometheus:", steps.see_a_firing_alert()["annotations"]["summary"])
    finally:
        twin.stop()
    print(f"screenshots written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images"))

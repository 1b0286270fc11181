"""The e2e tier: one real Airflow stack (the sandbox twin) for the whole session.

DAG runs are triggered through the REST API and polled to completion, so every task runs in a forked
task supervisor with Airflow 3's DB block, exactly as in production. Cron schedules are disabled in this
mode (only the runs a test triggers happen); asset schedules stay. Component logs, the local log folder
and the task logs in the remote log bucket (remote logging removes their local copies) are copied to
``artifacts/twin-logs`` (``artifacts/<matrix env>/twin-logs`` in the version matrix) when the session
ends so a CI failure can be read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

E2E_DAGS = Path(__file__).resolve().parent / "dags"
# scripts/test gives each older Airflow minor of the matrix its own folder (artifacts/airflow-3.1/...).
ARTIFACTS = Path(
    os.environ.get("PLATFORM_KIT_ARTIFACTS") or Path(__file__).resolve().parents[2] / "artifacts"
)
#: Runs first on the session's twin: it checks what a new user sees (every maintenance DAG still paused,
#: nothing confirmed), and every other e2e test unpauses the DAGs it triggers.
FIRST = "test_readme_walkthrough.py"


def pytest_collection_modifyitems(items: list) -> None:
    e2e = [i for i, item in enumerate(items) if item.get_closest_marker("e2e")]
    if not e2e:
        return
    start = e2e[0]
    block = items[start:]
    block.sort(key=lambda item: item.path.name != FIRST)  # stable: the rest keep their order
    items[start:] = block


@pytest.fixture(scope="session")
def twin() -> Iterator:
    from twin.remote_logs import download_remote_logs
    from twin.stack import start_twin

    # The health monitor polls every 2 s instead of 10 s, so the README health-step test is quick.
    stack = start_twin(
        extra_dag_folders={"e2e-tests": E2E_DAGS},
        manual_only=True,
        health_interval=2,
        progress=lambda _: None,
    )
    target = ARTIFACTS / "twin-logs"
    try:
        yield stack
    finally:
        shutil.rmtree(target, ignore_errors=True)
        with contextlib.suppress(Exception):  # best effort: the S3 server may be what failed
            download_remote_logs(stack, target / "airflow-logs")
        stack.stop()
        shutil.copytree(stack.home / "component-logs", target, dirs_exist_ok=True)
        shutil.copytree(stack.log_folder, target / "airflow-logs", dirs_exist_ok=True, symlinks=True)
        shutil.rmtree(stack.home, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium for a module; each test opens its own context with :func:`ui_page`.

    Module scope, not session: Playwright's sync API keeps an asyncio loop marked as running in this
    thread while it lives, so a later test's ``asyncio.run()`` would fail.
    """
    from twin.browser import chromium

    with chromium() as chromium_browser:
        yield chromium_browser


@pytest.fixture
def ui_page(twin, browser) -> Iterator:
    """A page of its own (fresh cookies) logged in to the twin's UI: a browser test needs no other test."""
    from twin.browser import log_in, new_page
    from twin.stack import UI_PASSWORD, UI_USER

    page = new_page(browser)
    try:
        log_in(page, twin.ui_url, UI_USER, UI_PASSWORD)
        yield page
    finally:
        page.context.close()

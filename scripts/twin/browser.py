"""Headless Chromium (Debian's, never a downloaded one) driven by Playwright, used as a person uses the UI.

Tests and ``scripts/screenshots`` share these helpers: log in, open a DAG's trigger form, fill it, press
Trigger. Every page gets its own browser context, so no test depends on another one's login.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]
#: Browser tests and ``scripts/screenshots`` save their screenshots here (CI keeps the folder).
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
#: Per action; the UI's single api-server worker also serves every running task, so be patient.
TIMEOUT_MS = 90_000


@contextmanager
def chromium() -> Iterator:
    """A headless Chromium browser; close it by leaving the block."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if not executable:
        raise RuntimeError("Debian's chromium is missing: run scripts/bootstrap")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, width: int = 1400, height: int = 900):
    """A page in a fresh browser context: no cookies, so no login, from any other page."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


@contextmanager
def chromium_page(width: int = 1400, height: int = 900) -> Iterator:
    """One page in its own headless Chromium."""
    with chromium() as browser:
        yield new_page(browser, width, height)


def log_in(page, ui_url: str, username: str, password: str, screenshot=None) -> None:
    """Open the UI, which redirects to the login form, and sign in."""
    page.goto(ui_url)
    page.wait_for_url("**/auth/login**")
    if screenshot:
        page.screenshot(path=screenshot)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{ui_url}/")


def task_page(ui_url: str, dag_id: str, run_id: str, task_id: str, tab: str = "") -> str:
    """The URL of a task instance's page (``tab`` e.g. ``"xcom"``; empty = its log)."""
    path = f"{ui_url}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}"
    return f"{path}/{tab}" if tab else path


class TriggerForm:
    """A DAG's trigger dialog (the ▷ Trigger button on its page), filled in and submitted as a person does.

    :param page: a logged-in page.
    :param ui_url: the UI's base URL.
    :param dag_id: the DAG whose form to open.
    """

    def __init__(self, page, ui_url: str, dag_id: str) -> None:
        self.page = page
        self.dag_id = dag_id
        page.goto(f"{ui_url}/dags/{dag_id}")
        page.get_by_role("button", name="Trigger").first.click()
        self.dialog = page.get_by_role("dialog")
        self.dialog.get_by_text("Run Parameters").wait_for()
        self.submit_button = self.dialog.locator("[data-testid=trigger-dag-submit]")

    @property
    def unpause_box(self):
        """The "Unpause <dag> on trigger" checkbox (shown while the DAG is paused, ticked by default)."""
        return self.dialog.locator("label", has_text=f"Unpause {self.dag_id} on trigger")

    def unpauses(self) -> bool | None:
        """Whether triggering will also unpause the DAG; ``None`` when it is not paused (no checkbox)."""
        if not self.unpause_box.count():
            return None
        return self.unpause_box.locator("input").is_checked()

    def field(self, name: str):
        """The input of Param ``name``."""
        return self.dialog.locator(f"[name=element_{name}], #element_{name}").first

    def set(self, name: str, value: Any) -> TriggerForm:
        """Set Param ``name`` as a person would: tick a switch, type into a text or number field."""
        if isinstance(value, bool):
            switch = self.dialog.locator(f"input[name=element_{name}]")
            if switch.is_checked() != value:
                switch.locator("xpath=ancestor::label[1]").click()
            assert switch.is_checked() == value, f"{name} did not switch to {value}"
        elif isinstance(value, int | float):
            increment = self.dialog.locator(f'[id="number-input:element_{name}:inc"]')
            number = self.dialog.locator(f'[id="{increment.get_attribute("aria-controls")}"]')
            number.fill(str(value))
            number.blur()
        else:
            self.dialog.locator(f"#element_{name}").fill(str(value))
        return self

    def can_submit(self) -> bool:
        return self.submit_button.is_enabled()

    def submit(self) -> dict:
        """Press Trigger; return the DAG run the UI created (the ``POST .../dagRuns`` response, with conf)."""
        with self.page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith(f"/dags/{self.dag_id}/dagRuns")
        ) as created:
            self.submit_button.click()
        response = created.value
        assert response.ok, f"the UI could not trigger {self.dag_id}: {response.status} {response.text()}"
        self.page.get_by_text("Dag Run Triggered").first.wait_for()
        return response.json()

"""Every maintenance DAG triggers from its UI form, untouched and with a choice, in headless Chromium.

What a person does: open the DAG, press Trigger, press Trigger again in the form. The Trigger button must
be enabled with the defaults (optional fields empty), the UI must post exactly the defaults, and the run
must succeed with them. Then one non-default choice per DAG, a dry run among them, typed into the form.
"""

from __future__ import annotations

import pytest

from twin.browser import SHOTS

pytestmark = pytest.mark.e2e

BUCKET = "platform-kit-backups"


def _log_cleanup(summary: dict, chosen: bool) -> None:
    assert summary["dry_run"] is chosen
    if chosen:
        assert summary["policy"]["max_size"] == "10.0 GiB (10,737,418,240 bytes)"
        assert summary["size_cap"]["cap_bytes"] == 10 * 1024**3


def _backup(summary: dict, chosen: bool) -> None:
    assert summary["retention"]["dry_run"] is chosen
    prefix = f"gs://{BUCKET}/form-choice/" if chosen else f"s3://{BUCKET}/metadb/"
    assert summary["backup"].startswith(prefix)


def _export(summary: dict, chosen: bool) -> None:
    assert summary["dry_run"] is chosen
    assert summary["destination"].startswith(f"s3://{BUCKET}/exports/")


def _db_cleanup(summary: dict, chosen: bool) -> None:
    assert summary["dry_run"] is chosen
    assert summary["retention_days"] == (30 if chosen else 90)


# dag_id -> (the last task, one non-default choice typed into the form, what its summary must show)
FORMS = {
    "platform_kit_log_cleanup": ("clean_logs", {"dry_run": True, "max_size": "10G"}, _log_cleanup),
    "platform_kit_metadb_backup": (
        "retention",
        {"destination": f"gs://{BUCKET}/form-choice", "retention_dry_run": True},
        _backup,
    ),
    "platform_kit_export": ("export", {"dry_run": True}, _export),
    "platform_kit_metadb_cleanup": ("clean", {"dry_run": True, "retention_days": 30}, _db_cleanup),
}


@pytest.mark.parametrize("dag_id", sorted(FORMS))
def test_the_form_triggers_with_its_defaults_and_with_a_choice(twin, ui_page, dag_id):

    from twin.browser import TriggerForm

    last_task, choice, check = FORMS[dag_id]
    twin.wait_for_dag(dag_id)
    defaults = {name: param["value"] for name, param in twin.get(f"dags/{dag_id}/details")["params"].items()}

    untouched_form = TriggerForm(ui_page, twin.ui_url, dag_id)
    assert untouched_form.can_submit(), f"{dag_id}: the Trigger button is greyed out with the defaults"
    untouched = untouched_form.submit()
    assert untouched["conf"] == defaults

    chosen_form = TriggerForm(ui_page, twin.ui_url, dag_id)
    for name, value in choice.items():
        chosen_form.set(name, value)
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui_page.screenshot(path=SHOTS / f"form-{dag_id}.png")
    assert chosen_form.can_submit()
    chosen = chosen_form.submit()
    assert chosen["conf"] == {**defaults, **choice}

    for created, is_choice in ((untouched, False), (chosen, True)):
        run = twin.wait_for_run(dag_id, created["dag_run_id"], timeout=900)
        assert run["state"] == "success", twin.task_log(dag_id, run["dag_run_id"], last_task)[-3000:]
        check(twin.xcom(dag_id, run["dag_run_id"], last_task), is_choice)

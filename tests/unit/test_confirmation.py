"""Dry run until confirmed: automatic runs of a destructive DAG delete nothing until a person has.

The e2e tests prove it on a real Airflow (an asset-triggered cleanup before and after confirmation);
these pin the decision for every kind of run. Where a test needs the Variable store of a running
Airflow (writes only work inside a task), it swaps ``airflow.sdk.Variable`` for a dict and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from platform_kit.confirmation import Confirmation, deletion_gate, parse_confirmation

pytestmark = pytest.mark.unit

DAG_ID = "platform_kit_log_cleanup"
VARIABLE = "platform_kit_log_cleanup_confirmed"
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@dataclass
class Run:
    """The fields of the task context's ``dag_run`` the gate reads."""

    run_type: str
    run_after: datetime = NOON
    dag_id: str = DAG_ID
    run_id: str = "run-1"
    triggering_user_name: str | None = "airflow"


@pytest.fixture
def variables(monkeypatch) -> dict[str, str]:
    """Airflow's Variable store as a dict: ``Variable.set`` needs a task supervisor; a unit test has none."""
    from airflow.sdk import Variable

    store: dict[str, str] = {}

    def get(key, default=None, deserialize_json=False):
        return store.get(key, default)

    def set_(key, value, description=None, serialize_json=False):
        store[key] = value

    monkeypatch.setattr(Variable, "get", staticmethod(get))
    monkeypatch.setattr(Variable, "set", staticmethod(set_))
    return store


@pytest.mark.parametrize("run_type", ["manual", "backfill"])
@pytest.mark.parametrize("requested", [True, False])
def test_a_run_a_person_starts_does_what_its_params_say(run_type, requested, variables):
    gate = deletion_gate(Run(run_type), requested_dry_run=requested)
    assert gate.dry_run is requested and not gate.held_back and gate.summary() == {}


@pytest.mark.parametrize("run_type", ["scheduled", "asset_triggered", "operator_triggered", "new_kind"])
def test_an_automatic_run_of_an_unconfirmed_dag_is_a_dry_run_and_says_why(run_type, variables):
    gate = deletion_gate(Run(run_type), requested_dry_run=False)
    assert gate.dry_run and gate.held_back
    reason = gate.summary()["held_back"]
    assert reason.startswith(f"nothing deleted: a {run_type} run deletes nothing until a person has")
    assert VARIABLE in reason and "\n" not in reason


def test_an_automatic_run_that_asks_for_a_dry_run_gets_one_and_reads_no_variable(monkeypatch):
    from airflow.sdk import Variable

    def refuse(*args, **kwargs):
        raise AssertionError("no Variable read needed")

    monkeypatch.setattr(Variable, "get", staticmethod(refuse))
    gate = deletion_gate(Run("scheduled"), requested_dry_run=True)
    assert gate.dry_run and not gate.held_back


@pytest.mark.parametrize("value", ["true", "yes", "confirmed by the platform team", "1"])
def test_confirmed_as_code_through_an_environment_variable(value, monkeypatch):
    """No stub here: outside a task, Airflow's Variable.get reads AIRFLOW_VAR_* as a worker would."""
    monkeypatch.setenv(f"AIRFLOW_VAR_{VARIABLE.upper()}", value)
    gate = deletion_gate(Run("scheduled"), requested_dry_run=False)
    assert gate.dry_run is False and gate.summary() == {}


@pytest.mark.parametrize("value", ["false", "No", "0", "off", "", "  "])
def test_a_withdrawn_confirmation_makes_automatic_runs_dry_again(value, monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_VAR_{VARIABLE.upper()}", value)
    assert deletion_gate(Run("scheduled"), requested_dry_run=False).dry_run is True


def test_a_real_run_by_hand_confirms_and_only_runs_due_after_it_delete(variables):
    manual = deletion_gate(Run("manual", run_after=NOON, run_id="manual__1"), requested_dry_run=False)
    manual.record()
    recorded = json.loads(variables[VARIABLE])
    assert recorded == {"since": NOON.isoformat(), "run_id": "manual__1", "by": "airflow"}

    # The run "Unpause on trigger" lets the scheduler start came due at midnight: it stays dry.
    sneaked_in = deletion_gate(Run("scheduled", run_after=NOON.replace(hour=0)), requested_dry_run=False)
    assert sneaked_in.dry_run and "came due before" in sneaked_in.summary()["held_back"]
    tomorrow = deletion_gate(Run("scheduled", run_after=NOON + timedelta(hours=12)), requested_dry_run=False)
    assert tomorrow.dry_run is False
    after_backup = deletion_gate(
        Run("asset_triggered", run_after=NOON + timedelta(minutes=5)), requested_dry_run=False
    )
    assert after_backup.dry_run is False


@pytest.mark.parametrize(
    ("run", "requested"),
    [(Run("manual"), True), (Run("scheduled"), False), (None, False)],
    ids=["dry run by hand", "automatic run", "outside a DAG run"],
)
def test_only_a_real_run_by_hand_confirms(run, requested, variables):
    deletion_gate(run, requested_dry_run=requested).record()
    assert variables == {}


def test_a_later_real_run_keeps_the_first_confirmation(variables):
    deletion_gate(Run("manual", run_after=NOON), requested_dry_run=False).record()
    first = variables[VARIABLE]
    deletion_gate(Run("manual", run_after=NOON + timedelta(days=3)), requested_dry_run=False).record()
    assert variables[VARIABLE] == first


def test_a_failure_to_record_is_logged_not_raised(monkeypatch, caplog):
    """Outside a task Variable.set has no supervisor to talk to: the real call fails, the run does not."""
    from airflow.sdk import Variable

    monkeypatch.setattr(Variable, "get", staticmethod(lambda *a, **k: None))
    deletion_gate(Run("manual"), requested_dry_run=False).record()
    assert f"could not record the confirmation in the Variable {VARIABLE}" in caplog.text


def test_reading_what_people_type_into_the_variable():
    assert parse_confirmation(None) is None
    assert parse_confirmation("false") is None
    assert parse_confirmation("true") == Confirmation()
    naive = parse_confirmation('{"since": "2026-11-30T12:00:00"}')
    assert naive == Confirmation(since=NOON)
    assert parse_confirmation('{"since": "not a time"}') == Confirmation()

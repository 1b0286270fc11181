"""The example DAGs: they import cleanly, follow the bundle's conventions, and the bits of logic they
carry (branch choice, date mapping, logical-date template) behave as their docs say.

Running them for real (trigger, sensors, branches, assets) is the e2e tier: tests/e2e/test_examples.py.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pendulum
import pytest

from platform_kit.version_compat import trigger_fails_on_paused_target

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "dags" / "examples"
EXPECTED_DAG_IDS = {
    "example_platform_kit_trigger_controller",
    "example_platform_kit_trigger_target",
    "example_platform_kit_branch_operator",
    "example_platform_kit_branch_decorator",
    "example_platform_kit_sensor_upstream",
    "example_platform_kit_sensor_same_schedule",
    "example_platform_kit_sensor_execution_delta",
    "example_platform_kit_sensor_execution_date_fn",
    "example_platform_kit_asset_producer",
    "example_platform_kit_asset_consumer",
    "example_platform_kit_alerting",
    "example_platform_kit_deadline",
}


@pytest.fixture(scope="module")
def dagbag():
    from platform_kit.version_compat import dag_bag_class

    DagBag = dag_bag_class()

    return DagBag(dag_folder=str(EXAMPLES))


def test_every_example_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == EXPECTED_DAG_IDS


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAG_IDS))
def test_example_follows_the_dag_conventions(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert {"example", "platform-kit"} <= set(dag.tags)
    assert dag.dag_id.startswith("example_platform_kit_")
    assert dag.is_paused_upon_creation is True
    assert dag.catchup is False
    assert dag.start_date.utcoffset() == dt.timedelta(0)
    assert dag.start_date.tzinfo is not None
    assert "Watch for" in (dag.doc_md or "")
    assert dag.description
    for op in dag.tasks:
        assert op.owner == "platform", op.task_id


def test_importing_the_examples_reads_no_variable_and_loads_no_heavy_client():
    """Fresh interpreter: any Variable/Connection access during parsing raises; heavy SDKs stay unloaded."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from airflow.sdk.definitions.connection import Connection
        from airflow.sdk.definitions.variable import Variable

        def forbidden(*args, **kwargs):
            raise RuntimeError("Variable/Connection read at parse time")

        Variable.get = classmethod(forbidden)
        Connection.get = classmethod(forbidden)
        baseline = set(sys.modules)  # what Airflow itself loads (3.1's airflow.sdk brings psycopg2)
        from platform_kit.version_compat import dag_bag_class

        bag = dag_bag_class()(dag_folder={str(EXAMPLES)!r})
        # google.cloud itself is a namespace package some .pth files preload; its clients are the cost.
        heavy = [m for m in ("boto3", "botocore", "google.cloud.storage", "psycopg", "psycopg2")
                 if m in sys.modules and m not in baseline]
        print(json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                          "dags": len(bag.dags), "heavy": heavy}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"errors": {}, "dags": len(EXPECTED_DAG_IDS), "heavy": []}


# --- branching -------------------------------------------------------------------------------------


@pytest.fixture
def choose_path(dagbag):
    return dagbag.dags["example_platform_kit_branch_operator"].get_task("choose_path").python_callable


@pytest.mark.parametrize(("mode", "expected"), [("dev", "skip_trigger"), ("prod", "trigger_target")])
def test_branch_follows_the_mode_variable(choose_path, monkeypatch, mode, expected):
    # Outside a task, Variable.get consults AIRFLOW_VAR_* env vars: the same call the task makes.
    monkeypatch.setenv("AIRFLOW_VAR_MODE", mode)
    assert choose_path() == expected


def test_branch_defaults_to_dev_when_the_variable_is_missing(choose_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_MODE", raising=False)
    assert choose_path() == "skip_trigger"


def test_branch_refuses_an_unknown_mode_in_one_line(choose_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_MODE", "prd")
    with pytest.raises(ValueError, match=r"^Variable 'mode' is 'prd'; set it to 'dev' or 'prod'"):
        choose_path()


@pytest.mark.parametrize(
    "dag_id", ["example_platform_kit_branch_operator", "example_platform_kit_branch_decorator"]
)
def test_branch_paths_meet_in_a_join_that_survives_the_skipped_path(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    branch = dag.get_task("choose_path")
    assert branch.downstream_task_ids == {"trigger_target", "skip_trigger"}
    join = dag.get_task("join")
    assert join.upstream_task_ids == {"trigger_target", "skip_trigger"}
    assert join.trigger_rule == "none_failed_min_one_success"


# --- explicit trigger ------------------------------------------------------------------------------


def test_controller_waits_deferrably_and_resets_an_existing_target_run(dagbag):
    op = dagbag.dags["example_platform_kit_trigger_controller"].get_task("trigger_target")
    assert op.trigger_dag_id == "example_platform_kit_trigger_target"
    assert op.trigger_dag_id in dagbag.dags
    assert (op.wait_for_completion, op.deferrable, op.reset_dag_run) == (True, True, True)
    # Off, and said so in the DAG doc, where the operator cannot check (Airflow < 3.2).
    assert op.fail_when_dag_is_paused is trigger_fails_on_paused_target()
    doc = dagbag.dags["example_platform_kit_trigger_controller"].doc_md
    state = "on" if trigger_fails_on_paused_target() else "off"
    assert f"the paused check is **{state}**" in doc and "{paused_check}" not in doc
    assert set(op.conf) <= set(dagbag.dags[op.trigger_dag_id].params)


@pytest.mark.parametrize(
    "logical_date", [None, pendulum.datetime(2026, 3, 2, 6, tz="UTC")], ids=["no-logical-date", "scheduled"]
)
def test_controller_logical_date_template_renders_with_and_without_a_logical_date(dagbag, logical_date):
    """The rendered value must parse, and fall back to run_after when the run has no logical date."""
    from types import SimpleNamespace

    from airflow.sdk import timezone

    op = dagbag.dags["example_platform_kit_trigger_controller"].get_task("trigger_target")
    run_after = pendulum.datetime(2026, 3, 2, 6, 0, 5, 123456, tz="UTC")
    dag_run = SimpleNamespace(logical_date=logical_date, run_after=run_after)
    rendered = op.render_template(op.logical_date, {"dag_run": dag_run})
    assert timezone.parse(rendered) == (logical_date or run_after)


# --- sensors ---------------------------------------------------------------------------------------

SENSORS = [
    ("example_platform_kit_sensor_same_schedule", "wait_reschedule"),
    ("example_platform_kit_sensor_same_schedule", "wait_deferrable"),
    ("example_platform_kit_sensor_execution_delta", "wait_for_publish"),
    ("example_platform_kit_sensor_execution_date_fn", "wait_for_publish"),
]


@pytest.mark.parametrize(("dag_id", "task_id"), SENSORS)
def test_sensor_fails_fast_on_a_failed_upstream_and_has_a_bounded_wait(dagbag, dag_id, task_id):
    sensor = dagbag.dags[dag_id].get_task(task_id)
    upstream = dagbag.dags[sensor.external_dag_id]
    assert upstream.has_task(sensor.external_task_id)
    assert {"failed", "upstream_failed"} <= set(sensor.failed_states)
    assert 0 < sensor.timeout < 7 * 24 * 3600  # the 7-day default is what this example avoids
    assert sensor.retries == 0
    assert sensor.deferrable or sensor.mode == "reschedule"


def test_same_schedule_case_shows_both_waiting_modes(dagbag):
    dag = dagbag.dags["example_platform_kit_sensor_same_schedule"]
    assert dag.get_task("wait_reschedule").mode == "reschedule"
    assert dag.get_task("wait_reschedule").deferrable is False
    assert dag.get_task("wait_deferrable").deferrable is True


def test_execution_delta_points_five_minutes_before_this_run(dagbag):
    sensor = dagbag.dags["example_platform_kit_sensor_execution_delta"].get_task("wait_for_publish")
    assert sensor.execution_delta == dt.timedelta(minutes=5)
    ours = pendulum.datetime(2026, 3, 2, 6, 5, tz="UTC")
    assert sensor._get_dttm_filter({"logical_date": ours}) == [pendulum.datetime(2026, 3, 2, 6, tz="UTC")]


@pytest.mark.parametrize(
    ("ours", "upstream"),
    [
        (pendulum.datetime(2026, 3, 2, 7, tz="UTC"), pendulum.datetime(2026, 3, 2, 6, tz="UTC")),  # Monday
        (pendulum.datetime(2026, 3, 6, 7, tz="UTC"), pendulum.datetime(2026, 3, 6, 6, tz="UTC")),  # Friday
        (pendulum.datetime(2026, 3, 7, 7, tz="UTC"), pendulum.datetime(2026, 3, 6, 6, tz="UTC")),  # Saturday
        (pendulum.datetime(2026, 3, 8, 7, tz="UTC"), pendulum.datetime(2026, 3, 6, 6, tz="UTC")),  # Sunday
    ],
)
def test_execution_date_fn_maps_weekends_to_fridays_run(dagbag, ours, upstream):
    sensor = dagbag.dags["example_platform_kit_sensor_execution_date_fn"].get_task("wait_for_publish")
    # Through the sensor's own date handling, as at run time (a run without logical date uses run_after).
    assert sensor._get_dttm_filter({"logical_date": ours}) == [upstream]
    no_logical_date = {"dag_run": type("DR", (), {"run_after": ours})()}
    assert sensor._get_dttm_filter(no_logical_date) == [upstream]


# --- assets ----------------------------------------------------------------------------------------


def test_consumer_is_scheduled_on_the_asset_the_producer_updates(dagbag):
    producer = dagbag.dags["example_platform_kit_asset_producer"]
    consumer = dagbag.dags["example_platform_kit_asset_consumer"]
    outlets = producer.get_task("publish_report").outlets
    assert len(outlets) == 1
    assert list(consumer.timetable.asset_condition.objects) == list(outlets)

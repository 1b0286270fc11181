"""The opt-in cluster policy, loaded the way Airflow loads it (``airflow.policy`` entry point) and applied
by a real DagBag parse."""

from __future__ import annotations

import textwrap
from importlib.metadata import entry_points

import pytest

pytestmark = pytest.mark.unit

DAG_FILE = textwrap.dedent(
    """
    import pendulum
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator


    def own_callback(context):
        pass


    with DAG("policy_plain", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        EmptyOperator(task_id="bare")
        EmptyOperator(task_id="explicit", retries=0, on_failure_callback=own_callback)

    with DAG(
        "policy_defaults",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        default_args={"retries": 4},
    ):
        EmptyOperator(task_id="from_default_args")

    with DAG(
        "policy_opted_out",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        tags=["alerts:off"],
    ):
        EmptyOperator(task_id="bare")
    """
)


def _parse(tmp_path):
    from platform_kit.version_compat import dag_bag_class

    DagBag = dag_bag_class()

    path = tmp_path / "policy_dags.py"
    path.write_text(DAG_FILE)
    bag = DagBag(dag_folder=str(path), safe_mode=False)
    assert bag.import_errors == {}
    return {(dag_id, t.task_id): t for dag_id, dag in bag.dags.items() for t in dag.tasks}


def test_the_policy_is_registered_through_the_entry_point():
    from platform_kit.version_compat import policy_plugins

    names = {ep.value for ep in entry_points(group="airflow.policy")}
    assert "platform_kit.alerts.policy" in names
    plugins = {getattr(p, "__name__", "") for p in policy_plugins()}
    assert "platform_kit.alerts.policy" in plugins


def test_off_unless_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW__PLATFORM_KIT__ALERTS_POLICY", raising=False)
    tasks = _parse(tmp_path)
    assert list(tasks["policy_plain", "bare"].on_failure_callback) == []
    assert tasks["policy_plain", "bare"].retries == 0


def test_when_on_it_fills_only_what_a_task_left_unset(tmp_path, monkeypatch):
    from platform_kit.alerts import on_failure_callback

    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__ALERTS_POLICY", "True")
    monkeypatch.setenv("AIRFLOW__PLATFORM_KIT__ALERTS_POLICY_RETRIES", "2")
    tasks = _parse(tmp_path)

    bare = tasks["policy_plain", "bare"]
    assert list(bare.on_failure_callback) == [on_failure_callback]
    assert bare.retries == 2

    explicit = tasks["policy_plain", "explicit"]
    assert [cb.__name__ for cb in explicit.on_failure_callback] == ["own_callback"]
    assert explicit.retries == 0  # an explicit retries=0 is a decision, not a gap

    assert tasks["policy_defaults", "from_default_args"].retries == 4

    opted_out = tasks["policy_opted_out", "bare"]
    assert list(opted_out.on_failure_callback) == [] and opted_out.retries == 0

"""The example DAGs, run for real in the twin (scheduler, triggerer, LocalExecutor) through the REST API.

Nothing is mocked: the controller's wait and two of the sensors defer to the twin's triggerer, the
reschedule sensor goes through the scheduler, the branch reads the Variable from the API server, and the
asset consumer run is created by the scheduler from the producer's event.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from twin.client import REQUEST_TIMEOUT, TERMINAL_RUN_STATES

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "dags" / "examples"
CONTROLLER = "example_platform_kit_trigger_controller"
TARGET = "example_platform_kit_trigger_target"
BRANCH_DAGS = ["example_platform_kit_branch_operator", "example_platform_kit_branch_decorator"]
UPSTREAM = "example_platform_kit_sensor_upstream"
PRODUCER = "example_platform_kit_asset_producer"
CONSUMER = "example_platform_kit_asset_consumer"


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _tis(twin, dag_id: str, run_id: str) -> dict[str, dict]:
    return {ti["task_id"]: ti for ti in twin.task_instances(dag_id, run_id)}


def _set_paused(twin, dag_id: str, paused: bool) -> None:
    twin.wait_for_dag(dag_id)
    response = twin.api.patch(twin.url(f"dags/{dag_id}"), json={"is_paused": paused}, timeout=REQUEST_TIMEOUT)
    response.raise_for_status()


def _target_runs_from(twin, source: str) -> list[dict]:
    """Runs of the target DAG whose conf says they were triggered by ``source`` (``<dag_id>/<run_id>``)."""
    return [run for run in twin.dag_runs(TARGET) if (run.get("conf") or {}).get("source") == source]


@pytest.fixture(scope="module")
def examples_bag():
    """The parsed example DAGs, to read the settings (sensor timeouts) the tests compare against."""
    from platform_kit.version_compat import dag_bag_class

    DagBag = dag_bag_class()

    return DagBag(dag_folder=str(EXAMPLES))


# --- explicit trigger ------------------------------------------------------------------------------


def test_controller_fails_at_once_with_a_clear_message_while_the_target_is_paused(twin):
    _set_paused(twin, TARGET, True)
    run_id = twin.trigger(CONTROLLER)
    run = twin.wait_for_run(CONTROLLER, run_id, timeout=180)

    tis = _tis(twin, CONTROLLER, run_id)
    assert run["state"] == "failed"
    assert tis["trigger_target"]["state"] == "failed"
    assert tis["report"]["state"] == "upstream_failed"
    assert f"Dag {TARGET} is paused" in twin.task_log(CONTROLLER, run_id, "trigger_target")
    assert _target_runs_from(twin, f"{CONTROLLER}/{run_id}") == []


@pytest.fixture(scope="module")
def controller_run(twin) -> dict:
    """One controller run without a logical date (REST ``logical_date: null``), target unpaused.

    While it runs, the states of ``trigger_target`` are recorded in ``seen_states``: the task must be
    seen ``deferred`` (waiting in the triggerer). Its logs cannot prove that reliably: with remote
    logging and ``delete_local_logs`` (the twin, like the sandbox) the triggerer's part is uploaded on
    its own schedule and the resumed try's upload replaces what the api-server serves.
    """
    _set_paused(twin, TARGET, False)
    run_id = twin.trigger(CONTROLLER, conf={"path": "/data/e2e-handover"})
    seen_states: set[str] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = twin.dag_run(CONTROLLER, run_id)
        seen_states.add(_tis(twin, CONTROLLER, run_id).get("trigger_target", {}).get("state"))
        if run["state"] in TERMINAL_RUN_STATES:
            return {**run, "seen_states": seen_states}
        time.sleep(0.5)
    raise TimeoutError(f"{CONTROLLER} run {run_id} unfinished after 300 s; trigger_target was {seen_states}")


def test_controller_succeeds_only_after_the_target_run_succeeded(twin, controller_run):
    run_id = controller_run["dag_run_id"]
    assert controller_run["state"] == "success"
    target_run_id = twin.xcom(CONTROLLER, run_id, "trigger_target", key="trigger_run_id")
    target = twin.dag_run(TARGET, target_run_id)
    trigger_ti = _tis(twin, CONTROLLER, run_id)["trigger_target"]

    assert target["state"] == "success"
    assert target["run_type"] == "operator_triggered"
    # The controller's task finished after the target run did: it waited, it did not fire and forget.
    assert _when(trigger_ti["end_date"]) >= _when(target["end_date"])
    # ...and the wait went through the triggerer (deferrable) rather than a sleeping worker.
    # The operator polls every 10 s, so a 0.5 s poll of the REST API cannot miss the deferred state.
    assert "deferred" in controller_run["seen_states"], controller_run["seen_states"]


def test_target_run_saw_the_conf_in_a_template_and_in_a_task(twin, controller_run):
    run_id = controller_run["dag_run_id"]
    target_run_id = twin.xcom(CONTROLLER, run_id, "trigger_target", key="trigger_run_id")
    source = f"{CONTROLLER}/{run_id}"

    seen = twin.xcom(TARGET, target_run_id, "read_conf")
    assert seen["path"] == "/data/e2e-handover"
    assert seen["source"] == source
    assert seen["conf"] == {"path": "/data/e2e-handover", "source": source}
    assert f"conf path=/data/e2e-handover source={source}" in twin.task_log(
        TARGET, target_run_id, "echo_conf"
    )


def test_target_logical_date_falls_back_to_the_controllers_run_after(twin, controller_run):
    # The controller was triggered without a logical date: {{ logical_date }} would have been undefined.
    assert controller_run["logical_date"] is None
    target_run_id = twin.xcom(
        CONTROLLER, controller_run["dag_run_id"], "trigger_target", key="trigger_run_id"
    )
    target = twin.dag_run(TARGET, target_run_id)
    assert _when(target["logical_date"]) == _when(controller_run["run_after"])
    report = twin.xcom(CONTROLLER, controller_run["dag_run_id"], "report")
    assert report == {"target_dag_id": TARGET, "target_run_id": target_run_id, "target_state": "success"}


def test_clearing_the_trigger_task_reruns_the_same_target_run(twin, controller_run):
    """reset_dag_run: a rerun finds the existing target run and clears it instead of failing."""
    run_id = controller_run["dag_run_id"]
    target_run_id = twin.xcom(CONTROLLER, run_id, "trigger_target", key="trigger_run_id")
    first_target = twin.dag_run(TARGET, target_run_id)

    response = twin.api.post(
        twin.url(f"dags/{CONTROLLER}/clearTaskInstances"),
        json={
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": ["trigger_target"],
            "only_failed": False,
            "include_downstream": True,
        },
        timeout=REQUEST_TIMEOUT,
    )
    response.raise_for_status()
    deadline = time.monotonic() + 300
    while _tis(twin, CONTROLLER, run_id)["trigger_target"]["try_number"] < 2:
        assert time.monotonic() < deadline, "the cleared trigger task never started again"
        time.sleep(1)
    rerun = twin.wait_for_run(CONTROLLER, run_id, timeout=300)

    assert rerun["state"] == "success"
    assert twin.xcom(CONTROLLER, run_id, "trigger_target", key="trigger_run_id") == target_run_id
    again = twin.dag_run(TARGET, target_run_id)
    assert again["state"] == "success"
    assert _when(again["end_date"]) > _when(first_target["end_date"])  # it really ran a second time
    assert len(_target_runs_from(twin, f"{CONTROLLER}/{run_id}")) == 1


# --- branching -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dev", "prod"])
@pytest.mark.parametrize("dag_id", BRANCH_DAGS)
def test_branch_on_mode_variable(twin, dag_id, mode):
    _set_paused(twin, TARGET, False)
    twin.set_variable("mode", mode)
    run_id = twin.trigger(dag_id)
    run = twin.wait_for_run(dag_id, run_id, timeout=240)
    states = {task_id: ti["state"] for task_id, ti in _tis(twin, dag_id, run_id).items()}
    triggered = _target_runs_from(twin, f"{dag_id}/{run_id}")

    assert run["state"] == "success"
    assert states["join"] == "success"
    if mode == "dev":
        assert states["trigger_target"] == "skipped"
        assert states["skip_trigger"] == "success"
        assert triggered == []
    else:
        assert states["trigger_target"] == "success"
        assert states["skip_trigger"] == "skipped"
        assert len(triggered) == 1
        target = twin.wait_for_run(TARGET, triggered[0]["dag_run_id"], timeout=240)
        assert target["state"] == "success"


# --- ExternalTaskSensor ----------------------------------------------------------------------------


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=dt.UTC)


# case -> (downstream logical date, upstream logical date, upstream fails?); the case names the DAG.
SENSOR_CASES = {
    "same_schedule-success": (_at(2, 6), _at(2, 6), False),
    "same_schedule-upstream_failed": (_at(3, 6), _at(3, 6), True),
    "execution_delta-success": (_at(4, 6, 5), _at(4, 6), False),
    "execution_delta-upstream_failed": (_at(5, 6, 5), _at(5, 6), True),
    "execution_date_fn-success": (_at(7, 7), _at(6, 6), False),  # Saturday -> Friday's run
    "execution_date_fn-upstream_failed": (_at(9, 7), _at(9, 6), True),
}


def _sensor_dag(case: str) -> str:
    return f"example_platform_kit_sensor_{case.split('-')[0]}"


@pytest.fixture(scope="module")
def sensor_runs(twin) -> dict[str, tuple[str, str]]:
    """Start every case at once (downstream first, so the sensors really wait), to keep the tier short.

    Returns ``{case: (downstream run_id, upstream run_id)}``.
    """
    downstream = {
        case: twin.trigger(_sensor_dag(case), logical_date=ours.isoformat())
        for case, (ours, _, _) in SENSOR_CASES.items()
    }
    upstream = {
        case: twin.trigger(UPSTREAM, conf={"fail": fail}, logical_date=theirs.isoformat())
        for case, (_, theirs, fail) in SENSOR_CASES.items()
    }
    return {case: (downstream[case], upstream[case]) for case in SENSOR_CASES}


def _finished_case(twin, sensor_runs, case: str) -> tuple[dict, dict, dict[str, dict]]:
    """Wait for both runs of ``case``: (downstream run, upstream run, downstream task instances)."""
    run_id, upstream_run_id = sensor_runs[case]
    run = twin.wait_for_run(_sensor_dag(case), run_id, timeout=300)
    upstream = twin.wait_for_run(UPSTREAM, upstream_run_id, timeout=120)
    return run, upstream, _tis(twin, _sensor_dag(case), run_id)


@pytest.mark.parametrize("case", [c for c in SENSOR_CASES if c.endswith("-success")])
def test_sensor_succeeds_once_the_matching_upstream_run_succeeded(twin, sensor_runs, case):
    run, upstream, tis = _finished_case(twin, sensor_runs, case)
    publish_end = _when(_tis(twin, UPSTREAM, upstream["dag_run_id"])["publish"]["end_date"])

    assert upstream["state"] == "success"
    assert run["state"] == "success"
    assert tis["process"]["state"] == "success"
    for sensor in (t for t in tis if t.startswith("wait_")):
        assert tis[sensor]["state"] == "success"
        assert _when(tis[sensor]["end_date"]) >= publish_end  # it waited for the upstream task


@pytest.mark.parametrize("case", [c for c in SENSOR_CASES if c.endswith("-upstream_failed")])
def test_sensor_fails_on_a_failed_upstream_well_before_its_timeout(twin, sensor_runs, examples_bag, case):
    run, upstream, tis = _finished_case(twin, sensor_runs, case)
    dag = examples_bag.dags[_sensor_dag(case)]
    started = _when(run["start_date"])

    assert upstream["state"] == "failed"
    assert run["state"] == "failed"
    assert tis["process"]["state"] == "upstream_failed"
    for sensor in (t for t in tis if t.startswith("wait_")):
        timeout = dag.get_task(sensor).timeout
        waited = (_when(tis[sensor]["end_date"]) - started).total_seconds()
        assert tis[sensor]["state"] == "failed"
        assert waited < timeout, f"{sensor} waited {waited:.0f}s, its timeout is {timeout}s"
        log = twin.task_log(dag.dag_id, run["dag_run_id"], sensor, try_number=tis[sensor]["try_number"])
        # Failed through failed_states, not through AirflowSensorTimeout.
        assert "ExternalTaskFailedError" in log or "ExternalDagFailedError" in log
        assert "AirflowSensorTimeout" not in log


# --- Asset -----------------------------------------------------------------------------------------


def test_producer_run_creates_a_consumer_run_that_sees_the_event(twin):
    _set_paused(twin, CONSUMER, False)
    before = {run["dag_run_id"] for run in twin.dag_runs(CONSUMER)}
    producer = twin.run_dag(PRODUCER, timeout=180)
    assert producer["state"] == "success"

    deadline = time.monotonic() + 120
    while not (new := [r for r in twin.dag_runs(CONSUMER) if r["dag_run_id"] not in before]):
        assert time.monotonic() < deadline, "no consumer run was created from the producer's asset event"
        time.sleep(2)
    assert len(new) == 1
    consumer = twin.wait_for_run(CONSUMER, new[0]["dag_run_id"], timeout=180)

    assert consumer["state"] == "success"
    assert consumer["run_type"] == "asset_triggered"
    assert consumer["logical_date"] is None
    events = twin.xcom(CONSUMER, consumer["dag_run_id"], "use_report")
    assert [(e["source"], e["extra"]) for e in events] == [
        (
            f"{PRODUCER}/{producer['dag_run_id']}",
            {"rows": 42, "produced_by": f"{PRODUCER}/{producer['dag_run_id']}"},
        )
    ]

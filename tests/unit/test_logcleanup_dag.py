"""The log cleanup DAG: its Params drive the engine, the task reads Airflow's log settings, queues fan out."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from logcleanup_trees import DAY, age_dirs, files, plant

pytestmark = pytest.mark.unit

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "maintenance" / "log_cleanup.py"

FAN_OUT = f"""
import importlib.util, json
spec = importlib.util.spec_from_file_location("log_cleanup_dag", {str(DAG_FILE)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({{t.task_id: t.queue for t in module.dag.tasks}}))
"""


def parse_tasks(env_queues: str | None) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__PLATFORM_KIT__LOG_CLEANUP_QUEUES"}
    if env_queues is not None:
        env["AIRFLOW__PLATFORM_KIT__LOG_CLEANUP_QUEUES"] = env_queues
    result = subprocess.run([sys.executable, "-c", FAN_OUT], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_one_task_covers_a_shared_volume_and_configured_queues_fan_out():
    single = parse_tasks(None)
    assert sorted(single) == ["clean_logs", "clean_remote_logs"]
    fanned = parse_tasks("host-a, host.b ,")
    # The remote folder is one for every worker: one task, on the default queue.
    assert fanned == {
        "clean_logs_host_a": "host-a",
        "clean_logs_host_b": "host.b",
        "clean_remote_logs": single["clean_remote_logs"],
    }


def test_the_task_cleans_the_configured_folders_with_the_dag_defaults(tmp_path, monkeypatch):
    from platform_kit.logcleanup.tasks import clean_logs_task

    base = tmp_path / "logs"
    processor = tmp_path / "processor"
    now = time.time()  # the task runs on the real clock
    plant(base, "dag_id=a/run_id=r/task_id=t/attempt=1.log", 31 * DAY, now=now)
    plant(base, "dag_id=a/run_id=r/task_id=t/attempt=2.log", 29 * DAY, now=now)
    plant(processor, "2026-01-01/dags-folder/x.py.log", 3 * DAY, now=now)
    age_dirs(base, 40 * DAY, now=now)
    # airflow.sdk.conf reads these environment variables on every get(), as in a worker.
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(base))
    monkeypatch.setenv("AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY", str(processor))
    params = {name: param.value for name, param in _dag_params().items()}
    params["dag_processor_retention_days"] = 2

    summary = clean_logs_task(params)

    assert summary["roots"] == [str(base), str(processor)]
    assert summary["files_deleted"] == 2 and summary["errors"] == 0
    assert files(base) == {"dag_id=a/run_id=r/task_id=t/attempt=2.log"}
    assert files(processor) == set()


def test_bad_params_fail_the_task_with_one_actionable_line(tmp_path, monkeypatch):
    from platform_kit.logcleanup.tasks import clean_logs_task
    from platform_kit.version_compat import fail_exception

    AirflowFailException = fail_exception()

    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", "/")
    params = {name: param.value for name, param in _dag_params().items()}
    with pytest.raises(AirflowFailException, match=r"^refusing to clean /"):
        clean_logs_task(params)
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path))
    with pytest.raises(AirflowFailException, match="per-DAG retention for 'x'"):
        clean_logs_task({**params, "dag_retention": {"x": -1}})


def _dag_params():
    import importlib.util

    spec = importlib.util.spec_from_file_location("log_cleanup_dag_for_params", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag.params


@pytest.mark.parametrize(
    ("env", "params", "reason"),
    [
        ({"AIRFLOW__LOGGING__REMOTE_LOGGING": "False"}, {}, "remote_logging is off"),
        (
            {
                "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
                "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "cloudwatch://arn:aws:logs:eu-west-1:1:log-group:x",
            },
            {},
            "cleans s3:// and gs:// folders only",
        ),
        (
            {
                "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
                "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "s3://b/l",
            },
            {"clean_remote": False},
            "clean_remote is off",
        ),
    ],
)
def test_the_remote_task_skips_and_says_why_without_an_s3_or_gcs_folder(monkeypatch, env, params, reason):
    from platform_kit.logcleanup.tasks import clean_remote_logs_task
    from platform_kit.version_compat import skip_exception

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    defaults = {name: param.value for name, param in _dag_params().items()}
    with pytest.raises(skip_exception(), match=reason):
        clean_remote_logs_task({**defaults, **params})


def test_blank_remote_params_take_the_local_ones_and_set_ones_win():
    from platform_kit.logcleanup.tasks import remote_policy_from_params

    params = {name: param.value for name, param in _dag_params().items()}
    params.update(
        retention_days=0, retention_hours=12, dag_retention={"a": 2}, dag_processor_retention_days=5
    )
    same = remote_policy_from_params(params)
    assert (same.retention_seconds, dict(same.dag_retention_days)) == (12 * 3600, {"a": 2.0})
    assert same.dag_processor_retention_days == 5 and same.max_size is None

    params.update(remote_retention_days=90, remote_dag_retention={"b": 400}, max_size="1G")
    own = remote_policy_from_params(params)
    assert (own.retention_days, own.retention_hours, dict(own.dag_retention_days)) == (90, 0.0, {"b": 400.0})
    assert own.max_size is None  # a bucket has no disk; the local cap does not follow

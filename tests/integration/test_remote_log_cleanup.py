"""The log cleanup on S3 and GCS log folders: the local policy and report, on real emulators over HTTP.

Objects are planted with chosen ages (``log_buckets``: the emulators run in this process so a test can turn
an object's clock back, as the local tests use ``os.utime``); everything else goes through the real
clients and the emulators' HTTP APIs.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from log_buckets import AgingGCS, AgingS3, LogBucket
from plain_shell import one_error_line, plain_shell

from platform_kit.exceptions import PolicyError, StorageError, UnsafeRootError
from platform_kit.logcleanup import RetentionPolicy, parse_size
from platform_kit.logcleanup.remote import clean_remote_logs
from platform_kit.logcleanup.tasks import clean_remote_logs_task

pytestmark = pytest.mark.integration

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0


@pytest.fixture(scope="module")
def aging_s3():
    server = AgingS3()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def aging_gcs():
    server = AgingGCS()
    yield server
    server.stop()


@pytest.fixture(params=["s3", "gs"])
def bucket(request) -> LogBucket:
    emulator = request.getfixturevalue("aging_s3" if request.param == "s3" else "aging_gcs")
    return LogBucket(emulator, request.param, f"logs-{uuid.uuid4().hex[:10]}", time.time())


@pytest.fixture
def s3_bucket_aged(aging_s3) -> LogBucket:
    return LogBucket(aging_s3, "s3", f"logs-{uuid.uuid4().hex[:10]}", time.time())


def task_log(dag: str, run: str, attempt: int = 1, task: str = "t") -> str:
    return f"logs/dag_id={dag}/run_id={run}/task_id={task}/attempt={attempt}.log"


def clean(bucket: LogBucket, policy: RetentionPolicy, **kwargs):
    kwargs.setdefault("store", bucket.store())
    return clean_remote_logs(bucket.url("logs"), policy, now=bucket.now, **kwargs)


def test_per_dag_dag_processor_and_min_age_decide_as_on_a_local_folder(bucket):
    old = {
        bucket.plant(task_log("noisy", "r4d"), 4 * DAY, size=100),
        bucket.plant(task_log("plain", "r31d"), 31 * DAY, size=50),
        bucket.plant(task_log("audit", "r400d"), 400 * DAY, size=300),
        bucket.plant("logs/executor_callbacks/noisy/r/5f0c3a2e-callback", 4 * DAY, size=7),
        bucket.plant("logs/dag_processor/2026-01-01/dags-folder/x.py.log", 8 * DAY, size=20),
        bucket.plant(task_log("plain", "r2", task="wait") + ".trigger.9.log", 31 * DAY, size=5),
    }
    kept = {
        bucket.plant(task_log("noisy", "r2d"), 2 * DAY),
        bucket.plant(task_log("audit", "r200d"), 200 * DAY),
        bucket.plant(task_log("plain", "r29d"), 29 * DAY),
        bucket.plant("logs/dag_processor/2026-01-09/dags-folder/x.py.log", 6 * DAY),
        bucket.plant(task_log("plain", "fresh"), 30 * MINUTE),
    }
    policy = RetentionPolicy(
        retention_days=30, dag_retention_days={"noisy": 3, "audit": 365}, dag_processor_retention_days=7
    )

    dry = clean(bucket, policy, dry_run=True)
    assert bucket.objects() == old | kept
    report = clean(bucket, policy)

    assert bucket.objects() == kept
    assert report.roots == [bucket.url("logs")] and report.remote and report.title() == "Remote log cleanup"
    assert (report.files_deleted, report.bytes_deleted) == (6, 482)
    assert (report.files_kept, report.skipped_recent, report.errors) == (4, 1, 0)
    # Top DAGs by what their logs take (kept + freed), with what this run freed, as on a local folder.
    assert [(d["dag_id"], d["bytes"], d["bytes_freed"], d["files_deleted"]) for d in report.top_dags()] == [
        ("audit", 310, 300, 1),
        ("noisy", 117, 107, 2),
        ("plain", 75, 55, 2),
        ("(dag-processor)", 30, 20, 1),
    ]
    assert dry.as_dict() | {"dry_run": False, "duration_seconds": 0} == report.as_dict() | {
        "duration_seconds": 0
    }


def test_an_attempt_log_stays_while_its_trigger_log_stays(bucket):
    # A deferred task writes only to its trigger log: the idle attempt log must not go before it.
    waiting = bucket.plant(task_log("etl", "r", task="wait"), 40 * DAY)
    bucket.plant(task_log("etl", "r", task="wait") + ".trigger.7.log", 40 * DAY)
    bucket.plant(task_log("etl", "r", task="wait") + ".trigger.8.log", 2 * HOUR)
    bucket.plant(task_log("etl", "r", task="done"), 40 * DAY)
    bucket.plant(task_log("etl", "r", task="done") + ".trigger.7.log", 40 * DAY)
    bucket.plant(task_log("etl", "r", task="last"), 40 * DAY)  # pending at the end of the listing

    report = clean(bucket, RetentionPolicy(retention_days=1))

    assert bucket.objects() == {waiting, task_log("etl", "r", task="wait") + ".trigger.8.log"}
    assert (report.files_deleted, report.files_kept) == (4, 2)


def test_nothing_outside_the_prefix_or_the_layout_is_touched(bucket):
    outside = {
        bucket.plant("logs-archive/dag_id=a/run_id=r/task_id=t/attempt=1.log", 90 * DAY),
        bucket.plant("logs.log", 90 * DAY),
        bucket.plant("other/dag_id=a/run_id=r/task_id=t/attempt=1.log", 90 * DAY),
    }
    not_airflow = {
        bucket.plant("logs/notes/old.log", 90 * DAY),
        bucket.plant("logs/top-level.log", 90 * DAY),
        bucket.plant("logs/dag_id=a/run_id=r/task_id=t/notes.txt", 90 * DAY),
        bucket.plant("logs/dag_id=a/run_id=r/task_id=t/attempt=1.log.gz", 90 * DAY),
    }
    bucket.plant(task_log("a", "r"), 90 * DAY)

    report = clean(bucket, RetentionPolicy())

    assert bucket.objects() == outside | not_airflow
    assert report.files_deleted == 1 and report.skipped_other_files == 4
    assert "2 *.log objects" in report.warnings[0] and "--allow-any-layout" in report.warnings[0]

    custom = clean(bucket, RetentionPolicy(), allow_any_layout=True)
    # A custom layout lets *.log objects under the prefix go; other names and other prefixes stay.
    assert bucket.objects() == outside | (not_airflow - {"logs/notes/old.log", "logs/top-level.log"})
    assert custom.files_deleted == 2 and custom.top_dags()[0]["dag_id"] == "(other)"


def test_a_bucket_root_is_refused_unless_allowed_and_bad_urls_fail_in_one_line(bucket):
    key = bucket.plant("dag_id=a/run_id=r/task_id=t/attempt=1.log", 90 * DAY)
    with pytest.raises(UnsafeRootError, match=r"^refusing to clean the whole bucket .*--allow-bucket-root"):
        clean_remote_logs(bucket.url(), RetentionPolicy(), store=bucket.store(), now=bucket.now)
    assert bucket.objects() == {key}

    report = clean_remote_logs(
        bucket.url(), RetentionPolicy(), store=bucket.store(), now=bucket.now, allow_bucket_root=True
    )
    assert report.files_deleted == 1 and bucket.objects() == set()

    with pytest.raises(PolicyError, match="size cap applies to local log folders only"):
        clean(bucket, RetentionPolicy(max_size=parse_size("10G")))
    with pytest.raises(StorageError, match="unsupported storage scheme 'wasb'"):
        clean_remote_logs("wasb://container/logs", RetentionPolicy())


def test_deletes_go_in_batches_while_the_listing_streams_page_by_page(s3_bucket_aged, monkeypatch):
    bucket = s3_bucket_aged
    keys = {bucket.plant(task_log("d", f"r{i:03d}"), 40 * DAY) for i in range(35)}
    kept = bucket.plant(task_log("d", "zzz"), HOUR * 2)
    monkeypatch.setenv("MOTO_S3_DEFAULT_MAX_KEYS", "6")  # read per request by the in-process server
    store = bucket.store()
    store.max_delete_batch = 10
    calls: list[str] = []
    store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **_: calls.append("list"))
    store.client.meta.events.register("before-call.s3.DeleteObjects", lambda **_: calls.append("delete"))

    report = clean(bucket, RetentionPolicy(), store=store)

    assert bucket.objects() == {kept} and report.files_deleted == len(keys)
    assert calls.count("list") == 6 and calls.count("delete") == 4  # 36 keys / 6; 35 keys / 10
    # Each batch went out as soon as it was full, between pages: nothing waits for the whole bucket. (An
    # expired attempt log is decided when the next key shows it has no kept trigger log, hence a page late
    # for the 30th key.)
    assert calls == ["list", "list", "delete", "list", "list", "delete", "list", "list", "delete", "delete"]


@pytest.mark.matrix  # the google provider's client of this minor's floor
def test_gcs_deletes_in_batch_requests_of_at_most_100_calls(aging_gcs):
    bucket = LogBucket(aging_gcs, "gs", f"logs-{uuid.uuid4().hex[:10]}", time.time())
    for i in range(130):
        bucket.plant(task_log("d", f"r{i:03d}"), 40 * DAY)
    store = bucket.store()
    sizes: list[int] = []
    real = store.delete_many
    store.delete_many = lambda keys: sizes.append(len(keys)) or real(keys)

    report = clean(bucket, RetentionPolicy(), store=store)

    assert sizes == [100, 30] and report.files_deleted == 130 and bucket.objects() == set()


def test_a_refused_key_is_reported_the_rest_go_on_and_the_run_ends_failed(s3_bucket_aged):
    bucket = s3_bucket_aged
    for i in range(25):
        bucket.plant(task_log("d", f"r{i:02d}"), 40 * DAY, size=10)
    refused = task_log("d", "r07")
    store = bucket.store()
    store.max_delete_batch = 10
    # moto deletes whatever it is asked to; S3 answers a key it may not delete (a bucket policy, object
    # lock) with a per-key AccessDenied inside a 200 response. That answer is simulated here: the key is
    # left out of the request and its error added to the parsed response, so the real client, the
    # batching and the report run as they would against S3.
    state = {}

    def leave_out(params, **_):
        objects = params["Delete"]["Objects"]
        state["hit"] = any(o["Key"] == refused for o in objects)
        params["Delete"]["Objects"] = [o for o in objects if o["Key"] != refused]

    def deny(parsed, **_):
        if state.pop("hit", False):
            parsed.setdefault("Errors", []).append(
                {"Key": refused, "Code": "AccessDenied", "Message": "Access Denied"}
            )

    store.client.meta.events.register("provide-client-params.s3.DeleteObjects", leave_out)
    store.client.meta.events.register("after-call.s3.DeleteObjects", deny)

    report = clean(bucket, RetentionPolicy(), store=store)

    assert bucket.objects() == {refused}
    assert report.files_deleted == 24 and report.errors == 1
    assert report.error_samples == [f"cannot delete {bucket.url(refused)}: AccessDenied Access Denied"]
    assert report.outcome_line().endswith(
        f"1 errors, first: cannot delete {bucket.url(refused)}: AccessDenied Access Denied"
    )


def test_a_batch_that_fails_as_a_whole_is_reported_and_the_next_ones_go_on(s3_bucket_aged):
    import botocore.exceptions

    bucket = s3_bucket_aged
    for i in range(25):
        bucket.plant(task_log("d", f"r{i:02d}"), 40 * DAY)
    store = bucket.store()
    store.max_delete_batch = 10
    seen = []

    def drop_second(**_):
        seen.append(1)
        if len(seen) == 2:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url=bucket.emulator.url)

    store.client.meta.events.register("before-call.s3.DeleteObjects", drop_second)

    report = clean(bucket, RetentionPolicy(), store=store)

    assert len(bucket.objects()) == 10 and report.files_deleted == 15 and report.errors == 10
    assert report.error_samples[0].startswith(
        f"cannot delete 10 objects ({bucket.url(task_log('d', 'r10'))} ..."
    )


def test_the_command_from_a_plain_shell_dry_run_then_delete(s3_bucket_aged, tmp_path):
    bucket = s3_bucket_aged
    bucket.now = time.time()
    bucket.plant(task_log("noisy", "old"), 5 * DAY, size=100)
    bucket.plant(task_log("keep", "r"), 5 * DAY, size=100)
    bucket.plant(task_log("keep", "old"), 45 * DAY, size=200)
    bucket.plant("logs-archive/dag_id=keep/run_id=old/task_id=t/attempt=1.log", 45 * DAY)
    shell = plain_shell(tmp_path)
    # Only what the README says to set: the connection. No AIRFLOW_HOME, no Airflow config.
    env = {"AIRFLOW_CONN_AWS_DEFAULT": bucket.emulator.conn_json()}
    command = ["logs", "clean", bucket.url("logs"), "--dag-retention", '{"noisy": 3}', "--json"]

    dry = shell.run(*command, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    real = shell.run(*command, env=env)
    assert real.returncode == 0, real.stderr

    for result in (json.loads(dry.stdout), json.loads(real.stdout)):
        assert result["files_deleted"] == 2 and result["bytes_deleted"] == 300
        top = result["top_dags"][0]
        assert (top["dag_id"], top["bytes"], top["bytes_freed"], top["files_deleted"]) == (
            "keep",
            300,
            200,
            1,
        )
    assert "deleted 2 objects (300 B)" in real.stderr
    assert bucket.objects() == {
        task_log("keep", "r"),
        "logs-archive/dag_id=keep/run_id=old/task_id=t/attempt=1.log",
    }
    root = shell.run("logs", "clean", bucket.url(), env=env)
    assert root.stdout == ""
    assert one_error_line(root).startswith("platform-kit: error: refusing to clean the whole bucket")
    shell.assert_no_side_effects()


def _configure_remote_logging(bucket: LogBucket, monkeypatch) -> None:
    """A worker's configuration with remote logging to ``bucket``'s ``logs`` folder (connection logs_s3)."""
    monkeypatch.setenv("AIRFLOW_CONN_LOGS_S3", bucket.emulator.conn_json())
    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_LOGGING", "True")
    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER", bucket.url("logs"))
    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID", "logs_s3")


@pytest.mark.matrix  # this minor's [logging] remote settings, read by the task
def test_the_dag_task_cleans_the_configured_remote_folder(s3_bucket_aged, monkeypatch):
    bucket = s3_bucket_aged
    bucket.now = time.time()
    bucket.plant(task_log("a", "old"), 31 * DAY)
    bucket.plant(task_log("a", "new"), 29 * DAY)
    bucket.plant(task_log("short", "r"), 2 * DAY)
    _configure_remote_logging(bucket, monkeypatch)
    params = {name: param.value for name, param in _dag_params().items()}
    params["remote_dag_retention"] = {"short": 1}

    summary = clean_remote_logs_task(params)

    assert summary["roots"] == [bucket.url("logs")] and summary["connection"] == "logs_s3"
    assert summary["files_deleted"] == 2 and summary["errors"] == 0
    assert bucket.objects() == {task_log("a", "new")}


@dataclass
class ScheduledRun:
    """The fields of the task context's ``dag_run`` that the deletion gate reads."""

    dag_id: str = "platform_kit_log_cleanup"
    run_id: str = "scheduled__2026-11-30T00:00:00+00:00"
    run_type: str = "scheduled"
    run_after: datetime = datetime(2026, 11, 30, tzinfo=UTC)
    triggering_user_name: str | None = None


@pytest.mark.matrix  # the confirmation gate through this minor's Variable lookup
def test_a_scheduled_run_deletes_nothing_remote_until_the_dag_is_confirmed(s3_bucket_aged, monkeypatch):
    """As the local task: an automatic run is a dry run until a person confirmed the DAG (no Variable stub:
    outside a task, Airflow's Variable.get reads AIRFLOW_VAR_* as a worker would)."""
    bucket = s3_bucket_aged
    bucket.now = time.time()
    expired = task_log("a", "old")
    bucket.plant(expired, 31 * DAY)
    _configure_remote_logging(bucket, monkeypatch)
    params = {name: param.value for name, param in _dag_params().items()}
    monkeypatch.setenv("AIRFLOW_VAR_PLATFORM_KIT_LOG_CLEANUP_CONFIRMED", "false")

    held = clean_remote_logs_task(params, dag_run=ScheduledRun())

    assert held["dry_run"] is True and held["files_deleted"] == 1
    assert held["held_back"].startswith("nothing deleted: a scheduled run deletes nothing until a person")
    assert bucket.objects() == {expired}

    monkeypatch.setenv("AIRFLOW_VAR_PLATFORM_KIT_LOG_CLEANUP_CONFIRMED", "true")
    confirmed = clean_remote_logs_task(params, dag_run=ScheduledRun())

    assert confirmed["dry_run"] is False and "held_back" not in confirmed
    assert bucket.objects() == set()


def _dag_params():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "dags" / "maintenance" / "log_cleanup.py"
    spec = importlib.util.spec_from_file_location("log_cleanup_dag_for_remote", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag.params

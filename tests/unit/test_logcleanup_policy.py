"""The policy matrix: default retention, per-DAG and dag-processor overrides, size cap with floor, dry run."""

from __future__ import annotations

import os

import pytest
from logcleanup_trees import DAY, HOUR, NOW, age_dirs, comparable, files, plant, snapshot

from platform_kit.logcleanup import PolicyError, RetentionPolicy, clean_logs, parse_dag_retention, parse_size

pytestmark = pytest.mark.unit

MINUTE = 60.0


def task_log(dag: str, run: str, attempt: int = 1) -> str:
    return f"dag_id={dag}/run_id={run}/task_id=t/attempt={attempt}.log"


def test_default_retention_is_exact_to_the_minute(tmp_path):
    root = tmp_path / "logs"
    plant(root, task_log("a", "just_inside"), 30 * DAY - MINUTE)
    plant(root, task_log("a", "just_outside"), 30 * DAY + MINUTE)

    report = clean_logs(str(root), RetentionPolicy(), now=NOW)

    assert files(root) == {task_log("a", "just_inside")}
    assert (report.files_deleted, report.files_kept) == (1, 1)


def test_per_dag_and_dag_processor_overrides(tmp_path):
    root = tmp_path / "logs"
    plant(root, task_log("noisy", "r4d"), 4 * DAY, size=100)
    plant(root, task_log("noisy", "r2d"), 2 * DAY)
    plant(root, task_log("audit", "r200d"), 200 * DAY)
    plant(root, task_log("audit", "r400d"), 400 * DAY, size=300)
    plant(root, task_log("plain", "r31d"), 31 * DAY, size=50)
    plant(root, task_log("plain", "r29d"), 29 * DAY)
    plant(root, "executor_callbacks/noisy/r/5f0c3a2e-callback", 4 * DAY, size=7)  # callback logs: no .log
    plant(root, "dag_processor/2026-01-01/dags-folder/x.py.log", 8 * DAY, size=20)
    plant(root, "dag_processor/2026-01-09/dags-folder/x.py.log", 6 * DAY)
    age_dirs(root, 400 * DAY)
    policy = RetentionPolicy(
        retention_days=30,
        dag_retention_days={"noisy": 3, "audit": 365},
        dag_processor_retention_days=7,
    )

    report = clean_logs(str(root), policy, now=NOW)

    assert files(root) == {
        task_log("noisy", "r2d"),
        task_log("audit", "r200d"),
        task_log("plain", "r29d"),
        "dag_processor/2026-01-09/dags-folder/x.py.log",
    }
    # Top by size before the run (what takes the disk), with what the run freed of it.
    top = [(d["dag_id"], d["bytes"], d["bytes_freed"], d["files_deleted"]) for d in report.top_dags()]
    assert top == [
        ("audit", 300 + 10, 300, 1),
        ("noisy", 100 + 7 + 10, 107, 2),
        ("plain", 50 + 10, 50, 1),
        ("(dag-processor)", 20 + 10, 20, 1),
    ]
    assert report.top_dags()[0]["bytes_freed_human"] == "300 B"
    assert report.bytes_deleted == 477
    assert not (root / "executor_callbacks").exists()
    assert (root / "dag_processor").is_dir()


def test_sub_day_retention_with_hours(tmp_path):
    root = tmp_path / "logs"
    plant(root, task_log("fast", "r7h"), 7 * HOUR)
    plant(root, task_log("fast", "r5h"), 5 * HOUR)

    clean_logs(str(root), RetentionPolicy(retention_days=0, retention_hours=6), now=NOW)

    assert files(root) == {task_log("fast", "r5h")}


def build_pressure_tree(root):
    """100 files of 1000 B, one per hour of age from 1 h to 100 h."""
    for hours in range(1, 101):
        plant(root, task_log("busy", f"r{hours:03d}h"), hours * HOUR - 1, size=1000)
    age_dirs(root, 200 * HOUR)


def test_size_cap_evicts_oldest_first_down_to_the_cap(tmp_path):
    root = tmp_path / "logs"
    build_pressure_tree(root)
    policy = RetentionPolicy(retention_days=30, max_size=parse_size("40000"), size_floor_hours=12)

    report = clean_logs(str(root), policy, now=NOW)

    left = files(root)
    assert left == {task_log("busy", f"r{hours:03d}h") for hours in range(1, 41)}
    assert report.size_cap["usage_before"] == 100_000
    assert report.size_cap["usage_after"] <= 40_000
    assert report.size_cap["over_cap_after"] is False
    assert "warnings" not in report.as_dict()


def test_size_cap_never_goes_below_the_floor_and_says_so(tmp_path):
    root = tmp_path / "logs"
    build_pressure_tree(root)
    policy = RetentionPolicy(retention_days=30, max_size=parse_size("10000"), size_floor_hours=24)

    report = clean_logs(str(root), policy, now=NOW)

    # Files younger than 24 h stay although the cap wants only 10 of them.
    assert files(root) == {task_log("busy", f"r{hours:03d}h") for hours in range(1, 25)}
    assert report.size_cap["over_cap_after"] is True
    assert "still over the size cap" in report.warnings[0]


def test_size_cap_as_a_share_of_the_filesystem(tmp_path):
    root = tmp_path / "logs"
    build_pressure_tree(root)
    stats = os.statvfs(root)
    capacity = stats.f_blocks * stats.f_frsize
    percent = 30_000 / capacity * 100  # a share worth ~30 kB of this filesystem

    report = clean_logs(
        str(root), RetentionPolicy(max_size=parse_size(f"{percent:.12f}%"), size_floor_hours=1), now=NOW
    )

    assert abs(report.size_cap["cap_bytes"] - 30_000) <= 1
    assert len(files(root)) in (29, 30)
    assert report.size_cap["usage_after"] <= report.size_cap["cap_bytes"]


@pytest.mark.parametrize(
    "policy",
    [
        RetentionPolicy(),
        RetentionPolicy(retention_days=2, dag_retention_days={"busy": 1, "etl": 90}),
        RetentionPolicy(retention_days=30, max_size=parse_size("25000"), size_floor_hours=6),
        RetentionPolicy(retention_days=3, dag_processor_retention_days=1, max_size=parse_size("5000")),
    ],
    ids=["default", "per-dag", "size-cap", "size-cap-floor"],
)
def test_dry_run_reports_exactly_what_the_real_run_then_does(tmp_path, policy):
    root = tmp_path / "logs"
    build_pressure_tree(root)
    for days in (1, 5, 40, 100):
        plant(root, task_log("etl", f"r{days}d"), days * DAY, size=777)
        plant(root, f"dag_processor/d{days}/dags-folder/x.py.log", days * DAY, size=33)
    plant(root, task_log("etl", "deferred"), 50 * DAY)
    plant(root, "dag_id=etl/run_id=deferred/task_id=t/attempt=1.log.trigger.1.log", 2 * HOUR)
    age_dirs(root, 200 * DAY)
    before = snapshot(root)
    files_before = files(root)

    dry = clean_logs(str(root), policy, dry_run=True, now=NOW)
    assert {k: v for k, v in snapshot(root).items() if k != ".platform-kit-log-cleanup.lock"} == before
    real = clean_logs(str(root), policy, now=NOW)

    assert dry.dry_run and not real.dry_run
    assert comparable(dry.as_dict()) == comparable(real.as_dict())
    assert real.files_deleted > 0 and real.dirs_removed > 0
    assert len(files(root)) == len(files_before) - real.files_deleted


def test_parsing_sizes_and_per_dag_retention():
    assert parse_size("10G").max_bytes == 10 * 1024**3
    assert parse_size("512MiB").max_bytes == 512 * 1024**2
    assert parse_size("1.5k").max_bytes == 1536
    assert parse_size("80%").percent == 80
    assert parse_size("") is None and parse_size(None) is None
    for bad in ("-1G", "0", "150%", "ten gigs", "0%"):
        with pytest.raises(PolicyError):
            parse_size(bad)
    assert parse_dag_retention('{"noisy_dag": 3, "audit_dag": 365}') == {"noisy_dag": 3.0, "audit_dag": 365.0}
    for bad in ("{not json", "[1, 2]", '{"a": -1}', '{"a": "3"}', '{"a": true}'):
        with pytest.raises(PolicyError):
            parse_dag_retention(bad)


def test_policies_that_would_delete_everything_are_refused():
    with pytest.raises(PolicyError, match="retention must be longer than zero"):
        RetentionPolicy(retention_days=0, retention_hours=0)
    with pytest.raises(PolicyError, match="min age minutes"):
        RetentionPolicy(min_age_minutes=0)
    with pytest.raises(PolicyError):
        RetentionPolicy(retention_days=-3)

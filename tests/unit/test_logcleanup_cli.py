"""``platform-kit logs clean``: the same engine from a shell, JSON report, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from logcleanup_trees import DAY, age_dirs, files, plant, snapshot

from platform_kit.cli import main

pytestmark = pytest.mark.unit


@pytest.fixture
def root(tmp_path):
    now = time.time()
    root = tmp_path / "logs"
    plant(root, "dag_id=noisy/run_id=r/task_id=t/attempt=1.log", 5 * DAY, size=100, now=now)
    plant(root, "dag_id=keep/run_id=r/task_id=t/attempt=1.log", 5 * DAY, size=100, now=now)
    plant(root, "dag_id=keep/run_id=old/task_id=t/attempt=1.log", 45 * DAY, size=200, now=now)
    plant(root, "dag_processor/2026-01-01/dags-folder/a.py.log", 3 * DAY, size=10, now=now)
    age_dirs(root, 60 * DAY, now=now)
    return root


def test_json_report_of_a_dry_run_then_the_real_run(root, capsys):
    before = snapshot(root)
    args = [
        "logs",
        "clean",
        str(root),
        "--dag-retention",
        '{"noisy": 3}',
        "--dag-processor-retention-days",
        "2",
    ]

    root_mtime = root.stat().st_mtime_ns
    assert main([*args, "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    # A dry run changes nothing on disk: not a file, not the root's own mtime (no lock file either).
    assert snapshot(root) == before and root.stat().st_mtime_ns == root_mtime

    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    real = json.loads(captured.out)
    assert not (root / ".platform-kit-log-cleanup.lock").exists()  # the lock leaves no trace

    assert dry["dry_run"] is True and real["dry_run"] is False
    for summary in (dry, real):
        assert summary["files_deleted"] == 3
        assert summary["bytes_deleted"] == 310
        assert summary["dirs_removed"] == 8  # 3 + 2 task-log folders, 3 dag-processor ones
        # Top by size: keep's logs take 300 bytes, 200 of them freed; noisy's 100, all freed.
        assert summary["top_dags"][:2] == [
            {"dag_id": "keep", "bytes": 300, "bytes_human": "300 B", "bytes_freed": 200,
             "bytes_freed_human": "200 B", "files_deleted": 1},
            {"dag_id": "noisy", "bytes": 100, "bytes_human": "100 B", "bytes_freed": 100,
             "bytes_freed_human": "100 B", "files_deleted": 1},
        ]  # fmt: skip
        assert summary["bytes_deleted_human"] == "310 B"
        assert summary["policy"]["dag_retention_days"] == {"noisy": 3.0}
    assert "deleted 3 files" in captured.err
    assert files(root) == {"dag_id=keep/run_id=r/task_id=t/attempt=1.log"}


def test_the_installed_command_prints_a_readable_summary(root):
    result = subprocess.run(
        [sys.executable, "-m", "platform_kit.cli", "logs", "clean", str(root), "--retention-hours", "200"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Log cleanup\n")
    assert "files_deleted: 1" in result.stdout  # 200 hours alone: only the 45-day-old file goes
    assert "dag_id=keep/run_id=old" not in "".join(sorted(files(root)))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dag-retention", "{oops"], "per-DAG retention is not valid JSON"),
        (["--max-size", "lots"], "cannot read max size"),
        (["--min-age-minutes", "0"], "min age minutes must be >= 1"),
        (["--retention-days", "0"], "retention must be longer than zero"),
    ],
)
def test_bad_options_fail_in_one_line_and_delete_nothing(root, capsys, extra, message):
    before = snapshot(root)
    assert main(["logs", "clean", str(root), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("platform-kit: error: ") and message in err and "\n" not in err
    assert snapshot(root) == before


def test_unsafe_roots_fail_with_exit_code_2(capsys):
    assert main(["logs", "clean", "/"]) == 2
    assert "refusing to clean /" in capsys.readouterr().err


# Subfolders of the operating system's trees, whatever the flags (--allow-any-layout included): a dry run
# of /usr/share or /etc/ssl used to plan deletions there.
SYSTEM_SUBFOLDERS = [
    "/usr/share",
    "/usr/lib",
    "/etc/ssl",
    "/var/lib/dpkg",
    "/var/log/apt",
    "/boot",
    "/proc/self",
]


@pytest.mark.parametrize("target", [path for path in SYSTEM_SUBFOLDERS if Path(path).is_dir()])
def test_system_trees_are_refused_whatever_the_flags(target, capsys):
    argv = ["logs", "clean", target, "--allow-any-layout", "--dry-run", "--json", "--retention-hours", "1"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("platform-kit: error: refusing to clean ") and "\n" not in err
    assert captured.out == ""  # no plan at all, not even a dry-run report


def test_an_airflow_log_folder_under_var_log_is_accepted_but_nothing_else_there(tmp_path, capsys):
    """/var/log/airflow is a usual base_log_folder; a custom-layout folder next to it is not."""
    parent = Path("/var/log")
    if not os.access(parent, os.W_OK):
        pytest.skip("needs write access to /var/log (the suite runs as root or with sudo)")
    airflow = Path(tempfile.mkdtemp(prefix="pk-test-airflow-", dir=parent))
    custom = Path(tempfile.mkdtemp(prefix="pk-test-custom-", dir=parent))
    try:
        plant(airflow, "dag_id=a/run_id=r/task_id=t/attempt=1.log", 40 * DAY, now=time.time())
        plant(custom, "app/old.log", 40 * DAY, now=time.time())
        assert main(["logs", "clean", str(airflow), "--dry-run", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["files_deleted"] == 1
        assert main(["logs", "clean", str(custom), "--allow-any-layout", "--dry-run"]) == 2
        assert "only a folder with Airflow's log layout" in capsys.readouterr().err
    finally:
        shutil.rmtree(airflow)
        shutil.rmtree(custom)

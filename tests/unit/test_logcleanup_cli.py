"""``platform-kit logs clean``: the same engine from a shell, JSON report, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time

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

    assert main([*args, "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in snapshot(root).items() if k != ".platform-kit-log-cleanup.lock"} == before

    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    real = json.loads(captured.out)

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

"""Adversarial log trees: the engine deletes old logs inside the root and touches nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from logcleanup_trees import DAY, NOW, age_dirs, files, plant, snapshot

from platform_kit.logcleanup import (
    LockBusyError,
    RetentionPolicy,
    UnsafeRootError,
    clean_logs,
)
from platform_kit.logcleanup.lock import LOCK_FILE_NAME, root_lock

pytestmark = pytest.mark.unit

POLICY = RetentionPolicy(retention_days=30)
OLD = 40 * DAY
TASK = "dag_id=etl/run_id=manual__2026-11-20T00:00:00+00:00/task_id=load"


@pytest.fixture
def world(tmp_path):
    """``root`` (the log folder) next to ``outside`` (must never change), both full of old logs."""
    root = tmp_path / "logs"
    outside = tmp_path / "outside"
    plant(outside, "victim.log", OLD)
    plant(outside, "dag_id=x/run_id=r/task_id=t/attempt=1.log", OLD)
    plant(root, f"{TASK}/attempt=1.log", OLD)
    return root, outside


def test_links_loops_odd_names_and_non_logs(world):
    root, outside = world
    # Links to outside the root, to /, to the root's parent, loops, dangling links, a link to an old log.
    (root / "dag_id=evil").symlink_to(outside)
    (root / "dag_id=etl" / "to_slash").symlink_to("/")
    (root / "dag_id=etl" / "up").symlink_to("..")
    (root / "dag_id=etl" / "parent_of_root").symlink_to(root.parent)
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    (root / "dangling.log").symlink_to(root / "missing.log")
    (root / f"{TASK}/attempt=2.log").symlink_to(outside / "victim.log")
    os.link(outside / "victim.log", root / "dag_id=etl" / "hardlink.log")  # same inode as an outside file
    # ".." inside names, unicode, newlines, spaces and the ':' '+' of run ids.
    odd = [
        "dag_id=etl/..log",
        "dag_id=etl/...log",
        "dag_id=etl/a..b.log",
        "dag_id=日本語/run_id=r/task_id=タスク/attempt=1.log",
        "dag_id=etl/new\nline.log",
        "dag_id=etl/with space and ü.log",
        "dag_id=etl/run_id=scheduled__2026-01-01T00:00:00+00:00/task_id=t/map_index=3/attempt=1.log",
    ]
    for name in odd:
        plant(root, name, OLD)
    # Old files that are not logs, and a FIFO named like a log.
    keep = [
        "dag_id=etl/notes.txt",
        "dag_id=etl/attempt=1.log.gz",
        "lost+found/old.log",
        "dag_id=etl/.log.swp",
    ]
    for name in keep:
        plant(root, name, OLD)
    os.mkfifo(root / "dag_id=etl" / "pipe.log")
    age_dirs(root, OLD)
    outside_before = snapshot(outside)

    report = clean_logs(str(root), POLICY, now=NOW)

    assert snapshot(outside) == outside_before
    left = files(root)
    for name in odd:
        assert name not in left
    assert f"{TASK}/attempt=1.log" not in left
    for name in keep:
        assert name in left
    links = {
        "dag_id=evil",
        "dag_id=etl/to_slash",
        "dag_id=etl/up",
        "dag_id=etl/parent_of_root",
        "loop_a",
        "loop_b",
        "dangling.log",
        f"{TASK}/attempt=2.log",
    }
    assert links <= left
    assert (root / "dag_id=etl" / "pipe.log").exists()
    assert report.errors == 0
    assert report.files_deleted == len(odd) + 1
    assert report.skipped_symlinks == len(links)
    assert report.skipped_hardlinks == 1
    assert "dag_id=etl/hardlink.log" in left
    assert not (root / "dag_id=日本語").exists()  # emptied folders go, bottom-up


def test_a_root_that_is_itself_a_symlink_is_resolved_once(world, tmp_path):
    root, outside = world
    (root / "escape").symlink_to(outside)
    age_dirs(root, OLD)
    link = tmp_path / "logs-link"
    link.symlink_to(root)
    outside_before = snapshot(outside)

    report = clean_logs(str(link), POLICY, now=NOW)

    assert report.roots == [str(root.resolve())]
    assert report.files_deleted == 1
    assert snapshot(outside) == outside_before
    assert link.is_symlink() and (root / "escape").is_symlink()


@pytest.mark.parametrize("target", ["/", "~", "/etc", "/var/log", "/tmp"])
def test_system_and_home_directories_are_refused(target, tmp_path):
    path = str(Path(target).expanduser())
    with pytest.raises(UnsafeRootError, match="refusing"):
        clean_logs(path, POLICY, now=NOW)
    # The same through a symlink: the resolved path decides.
    link = tmp_path / "innocent-looking-logs"
    link.symlink_to(path)
    with pytest.raises(UnsafeRootError, match="refusing"):
        clean_logs(str(link), POLICY, now=NOW)


def test_a_lock_file_left_behind_does_not_make_a_folder_look_like_airflow_logs(tmp_path):
    """A killed run (or an older version, which kept its lock file) may leave the lock anywhere it ran."""
    project = tmp_path / "project"
    plant(project, "build.log", OLD)
    (project / LOCK_FILE_NAME).write_text("123")
    with pytest.raises(UnsafeRootError, match="does not look like an Airflow log folder"):
        clean_logs(str(project), POLICY, now=NOW)
    fresh = tmp_path / "fresh-logs"
    fresh.mkdir()
    (fresh / LOCK_FILE_NAME).write_text("123")
    assert clean_logs(str(fresh), POLICY, now=NOW).files_deleted == 0  # an empty log folder, taken over
    assert not (fresh / LOCK_FILE_NAME).exists()


def test_folders_that_do_not_look_like_airflow_logs_are_refused(tmp_path):
    project = tmp_path / "project"
    plant(project, "build.log", OLD)
    home = tmp_path / "airflow-home"
    plant(home, "airflow.cfg", OLD)
    plant(home, "logs/dag_id=a/run_id=r/task_id=t/attempt=1.log", OLD)
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeRootError, match="does not look like an Airflow log folder"):
        clean_logs(str(project), POLICY, now=NOW)
    with pytest.raises(UnsafeRootError, match="does not look like"):
        clean_logs(str(home), POLICY, now=NOW)
    with pytest.raises(UnsafeRootError, match="does not exist"):
        clean_logs(str(tmp_path / "missing"), POLICY, now=NOW)
    assert snapshot(tmp_path) == before
    # An explicit opt-in accepts a custom layout (still *.log only).
    report = clean_logs(str(project), POLICY, now=NOW, allow_any_layout=True)
    assert report.files_deleted == 1


def test_files_written_during_the_run_survive_and_the_run_finishes(tmp_path):
    root = tmp_path / "logs"
    for run in range(300):
        plant(root, f"dag_id=busy/run_id=r{run}/task_id=t/attempt=1.log", OLD, now=time.time())
    live = root / "dag_id=busy/run_id=r150/task_id=t/attempt=2.log"
    live.write_text("start\n")
    age_dirs(root, OLD, now=time.time())
    stop = threading.Event()

    def write_and_create() -> None:
        count = 0
        with live.open("a") as handle:
            while not stop.is_set():
                handle.write("line\n")
                handle.flush()
                new = root / f"dag_id=busy/run_id=new{count}/task_id=t"
                new.mkdir(parents=True, exist_ok=True)
                (new / "attempt=1.log").write_text("fresh")
                count += 1

    writer = threading.Thread(target=write_and_create)
    writer.start()
    try:
        report = clean_logs(str(root), POLICY)  # real clock: the writer's files are seconds old
    finally:
        stop.set()
        writer.join()

    assert report.errors == 0
    assert report.files_deleted == 300
    assert live.exists() and live.read_text().startswith("start\nline\n")
    assert all(p.name == "attempt=1.log" for p in root.glob("dag_id=busy/run_id=new*/task_id=t/*"))
    assert (root / "dag_id=busy/run_id=new0/task_id=t/attempt=1.log").exists()


def test_a_deferred_task_keeps_its_idle_attempt_log_while_the_trigger_log_is_live(tmp_path):
    root = tmp_path / "logs"
    deferred = "dag_id=d/run_id=r/task_id=wait"
    plant(root, f"{deferred}/attempt=1.log", OLD)
    plant(root, f"{deferred}/attempt=1.log.trigger.7.log", 60)  # written a minute ago
    finished = "dag_id=d/run_id=old/task_id=wait"
    plant(root, f"{finished}/attempt=1.log", OLD)
    plant(root, f"{finished}/attempt=1.log.trigger.3.log", OLD)
    age_dirs(root, OLD)

    report = clean_logs(str(root), POLICY, now=NOW)

    assert files(root) == {f"{deferred}/attempt=1.log", f"{deferred}/attempt=1.log.trigger.7.log"}
    assert report.files_deleted == 2
    assert report.skipped_recent == 1


def test_dag_processor_latest_link_and_its_target_survive(tmp_path):
    root = tmp_path / "logs"
    plant(root, "dag_processor/2026-01-01/dags-folder/a.py.log", OLD)
    plant(root, "dag_processor/2026-01-02/dags-folder/sub/b.py.log", OLD)
    (root / "dag_processor" / "latest").symlink_to("2026-01-02")
    plant(root, f"{TASK}/attempt=1.log", OLD)
    age_dirs(root, OLD)

    report = clean_logs(str(root), POLICY, dag_processor_folder=str(root / "dag_processor"), now=NOW)

    assert report.files_deleted == 3
    assert (root / "dag_processor" / "latest").is_symlink()
    assert (root / "dag_processor" / "latest").resolve() == root / "dag_processor" / "2026-01-02"
    assert (root / "dag_processor" / "2026-01-02").is_dir()  # the link does not dangle
    assert not (root / "dag_processor" / "2026-01-01").exists()
    assert not (root / "dag_id=etl").exists()


def test_a_dag_processor_folder_outside_the_base_is_a_second_root(tmp_path):
    base = tmp_path / "logs"
    processor = tmp_path / "processor-logs"
    plant(base, f"{TASK}/attempt=1.log", OLD)
    plant(processor, "2026-01-01/dags-folder/a.py.log", 5 * DAY)
    (processor / "latest").symlink_to("2026-01-01")
    policy = RetentionPolicy(retention_days=30, dag_processor_retention_days=2)
    with root_lock(str(processor)), pytest.raises(LockBusyError):  # the second root is locked too
        clean_logs(str(base), policy, dag_processor_folder=str(processor), now=NOW)

    report = clean_logs(str(base), policy, dag_processor_folder=str(processor), now=NOW)

    assert report.roots == [str(base), str(processor)]
    assert files(processor) == {"latest"}
    assert not (processor / LOCK_FILE_NAME).exists() and not (base / LOCK_FILE_NAME).exists()
    assert report.top_dags()[0]["dag_id"] in ("(dag-processor)", "etl")
    assert (processor / "2026-01-01").is_dir()


def test_a_second_run_fails_fast_and_a_killed_holder_leaves_no_stale_lock(tmp_path):
    root = tmp_path / "logs"
    plant(root, f"{TASK}/attempt=1.log", OLD)
    with root_lock(str(root)), pytest.raises(LockBusyError, match=r"another log cleanup .* is running"):
        clean_logs(str(root), POLICY, now=NOW)
    assert (root / f"{TASK}/attempt=1.log").exists()

    # A holder killed with SIGKILL (no cleanup code runs) must not block the next run.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from platform_kit.logcleanup.lock import root_lock\n"
            f"with root_lock({str(root)!r}):\n    print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(LockBusyError, match=f"pid {holder.pid}"):
        clean_logs(str(root), POLICY, now=NOW)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (root / LOCK_FILE_NAME).exists()  # what a SIGKILL leaves: an unlocked, empty file
    report = clean_logs(str(root), POLICY, now=NOW)
    assert report.files_deleted == 1
    assert not (root / LOCK_FILE_NAME).exists()  # taken over, and removed at the end


UNREADABLE_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from platform_kit.logcleanup import RetentionPolicy, clean_logs
    import platform_kit.summary  # imported before dropping privileges: the interpreter lives under /root
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    report = clean_logs(sys.argv[1], RetentionPolicy(retention_days=30), now=float(sys.argv[2]))
    print(json.dumps(report.as_dict()))
    """
)


def test_unreadable_directories_are_reported_and_the_run_goes_on():
    # As root, chmod does not stop reads, so the engine runs in a child that drops to uid/gid 65534
    # after importing; the tree lives in a world-traversable temp dir owned by that user.
    base = Path(tempfile.mkdtemp(prefix="logcleanup-perm-", dir="/tmp"))
    try:
        base.chmod(0o755)
        root = base / "logs"
        plant(root, f"{TASK}/attempt=1.log", OLD)
        plant(root, "dag_id=locked/run_id=r/task_id=t/attempt=1.log", OLD)
        plant(root, "dag_id=nosearch/run_id=r/task_id=t/attempt=1.log", OLD)
        plant(root, "dag_id=zz/run_id=r/task_id=t/attempt=1.log", OLD)
        age_dirs(root, OLD)
        if os.getuid() == 0:
            for dirpath, dirnames, filenames in os.walk(root):
                for name in [*dirnames, *filenames, "."]:
                    os.chown(Path(dirpath) / name, 65534, 65534, follow_symlinks=False)
            os.chown(root / "dag_id=locked", 0, 0)  # owned by root, 0700: not even listable
            os.chown(root / "dag_id=nosearch", 0, 0)
        (root / "dag_id=locked").chmod(0o700)
        (root / "dag_id=nosearch").chmod(0o744)  # listable but not searchable by others
        age_dirs(root, OLD)
        result = subprocess.run(
            [sys.executable, "-c", UNREADABLE_SCRIPT, str(root), str(NOW)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        summary = __import__("json").loads(result.stdout)
        assert summary["files_deleted"] == 2
        assert summary["errors"] >= 2
        joined = "\n".join(summary["error_samples"])
        assert "dag_id=locked" in joined and "Permission denied" in joined
        assert "dag_id=nosearch" in joined
        assert (root / "dag_id=locked/run_id=r/task_id=t/attempt=1.log").exists()
        assert not (root / f"{TASK}/attempt=1.log").exists()
        assert not (root / "dag_id=zz").exists()
    finally:
        for dirpath, dirnames, _ in os.walk(base):
            for name in dirnames:
                (Path(dirpath) / name).chmod(0o755)
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_fresh_files_and_fresh_empty_folders_are_kept_whatever_the_policy(tmp_path):
    root = tmp_path / "logs"
    plant(root, "dag_id=a/run_id=r/task_id=t/attempt=1.log", 30 * 60)  # 30 minutes old
    (root / "dag_id=a/run_id=just-created/task_id=t").mkdir(parents=True)
    policy = RetentionPolicy(retention_days=0, retention_hours=0.1, dag_retention_days={"a": 0})

    report = clean_logs(str(root), policy, now=time.time())

    assert report.files_deleted == 0 and report.skipped_recent == 1
    assert (root / "dag_id=a/run_id=just-created/task_id=t").is_dir()


@pytest.fixture
def immutable(tmp_path):
    """Old logs not even root can delete (``chattr +i``); skipped where the attribute is unsupported."""
    made: list[Path] = []

    def make(root: Path, relative: str) -> Path:
        path = plant(root, relative, OLD)
        result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot make a file immutable here ({result.stderr.strip()}); needs ext4 and root")
        made.append(path)
        return path

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_a_file_that_cannot_be_deleted_is_reported_and_the_rest_goes(tmp_path, immutable):
    root = tmp_path / "logs"
    stuck = immutable(root, "dag_id=a/run_id=r1/task_id=t/other.log")  # deleted in the walk
    immutable(root, "dag_id=a/run_id=r1/task_id=t/attempt=3.log")  # deleted after the folder's trigger check
    plant(root, "dag_id=a/run_id=r2/task_id=t/attempt=1.log", OLD)
    plant(root, "dag_id=a/run_id=r1/task_id=t/attempt=1.log", OLD)
    age_dirs(root, OLD)

    report = clean_logs(str(root), POLICY, now=NOW)

    assert report.errors == 2
    assert all("cannot delete" in e and "Operation not permitted" in e for e in report.error_samples)
    assert files(root) == {
        "dag_id=a/run_id=r1/task_id=t/other.log",
        "dag_id=a/run_id=r1/task_id=t/attempt=3.log",
    }
    assert stuck.exists() and not (root / "dag_id=a/run_id=r2").exists()
    assert report.files_deleted == 2


@pytest.fixture
def mount(tmp_path):
    """Mount something inside a test tree (needs root and CAP_SYS_ADMIN; skipped otherwise)."""
    mounted: list[Path] = []

    def do(*args: str, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount here ({result.stderr.strip()})")
        mounted.append(target)

    yield do
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_filesystems_and_bind_mounts_inside_the_root_are_not_entered(world, mount):
    root, outside = world
    # A bind mount of an outside folder keeps its device number; a tmpfs has its own.
    mount("--bind", str(outside), target=root / "dag_id=bound")
    mount("-t", "tmpfs", "none", target=root / "dag_id=tmpfs")
    plant(root, "dag_id=tmpfs/run_id=r/task_id=t/attempt=1.log", OLD)
    age_dirs(root / "dag_id=etl", OLD)
    outside_before = snapshot(outside)

    report = clean_logs(str(root), POLICY, now=NOW)

    assert snapshot(outside) == outside_before
    assert (root / "dag_id=tmpfs/run_id=r/task_id=t/attempt=1.log").exists()
    assert report.skipped_mounts == 2
    assert report.files_deleted == 1 and report.errors == 0


def test_a_dag_processor_folder_mounted_inside_the_base_is_cleaned_as_its_own_root(tmp_path, mount):
    base = tmp_path / "logs"
    plant(base, f"{TASK}/attempt=1.log", OLD)
    mount("-t", "tmpfs", "none", target=base / "dag_processor")
    plant(base, "dag_processor/2026-01-01/dags-folder/a.py.log", 5 * DAY)
    policy = RetentionPolicy(retention_days=30, dag_processor_retention_days=2)

    report = clean_logs(str(base), policy, dag_processor_folder=str(base / "dag_processor"), now=NOW)

    assert report.roots == [str(base), str(base / "dag_processor")]
    assert report.files_deleted == 2 and report.skipped_mounts == 1
    assert not (base / "dag_processor/2026-01-01/dags-folder/a.py.log").exists()

"""Which folders the log cleanup may delete in: the checks made once, on the root, before any walk.

A root is refused when it is ``/``, a system directory, inside one of the operating system's trees
(``/usr``, ``/etc``, ``/var/lib``, ``/boot``, ``/proc``, ``/sys``...), a home directory (or contains one),
or does not look like an Airflow log folder (unless the caller says the layout is custom). Inside ``/var``
(``/var/log``...) and ``/usr/local`` only a folder that looks like Airflow's logs is accepted, whatever
the caller says: ``/var/log/airflow`` yes, ``/var/log/apt`` never. Mount points inside a root are found
here too, so the walk never enters another filesystem or a bind mount.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re

from platform_kit.exceptions import UnsafeRootError
from platform_kit.logcleanup.lock import LOCK_FILE_NAME

# Never a log root, whatever a setting says.
_SYSTEM_DIRS = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/local",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/tmp",
    }
)
# Never a log root, nor anything inside them, whatever a setting or flag says: the operating system's files.
_SYSTEM_TREES = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/snap",
    "/sys",
    "/usr",
    "/var/backups",
    "/var/cache",
    "/var/lib",
    "/var/mail",
    "/var/spool",
)
# Inside these, only a folder with Airflow's own layout (e.g. /var/log/airflow, the old images'
# /usr/local/airflow/logs); allow_any_layout does not apply. /var/tmp is a scratch area like /tmp.
_AIRFLOW_ONLY_TREES = ("/usr/local", "/var")
_SCRATCH_TREES = ("/var/tmp",)
_BASE_MARKERS = frozenset({"dag_processor", "dag_processor_manager", "scheduler", "executor_callbacks"})
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _home_dirs() -> set[str]:
    homes = {os.path.realpath(os.path.expanduser("~"))}  # noqa: PTH111
    with contextlib.suppress(OSError):
        homes.update(os.path.realpath(entry.pw_dir) for entry in pwd.getpwall() if entry.pw_dir)
    homes.discard("/")
    return homes


def is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def mount_points_under(roots: list[str]) -> set[str]:
    """Mount points strictly below any of ``roots`` (from ``/proc/self/mountinfo``; empty elsewhere).

    Bind mounts keep the device number, so comparing ``st_dev`` alone would walk into a bind mount of,
    say, ``/home`` placed inside the log folder.
    """
    found: set[str] = set()
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as mountinfo:
            for line in mountinfo:
                fields = line.split(" ")
                if len(fields) < 5:
                    continue
                # Spaces, tabs, newlines and backslashes in mount points are octal-escaped.
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
                if any(point != root and is_within(point, root) for root in roots):
                    found.add(point)
    except OSError:
        pass
    return found


def _layout_kind(real: str) -> str | None:
    """``"base"``, ``"dag_processor"``, ``"empty"`` or ``None`` when nothing looks like Airflow logs."""
    seen_any = False
    date_dirs = False
    with os.scandir(real) as entries:
        for entry in entries:
            name = entry.name
            if name == LOCK_FILE_NAME:
                # Says nothing about the folder: a killed run (or an older version) may leave it anywhere.
                continue
            seen_any = True
            if name == "airflow.cfg":
                return None  # AIRFLOW_HOME, not its log folder
            if name.startswith("dag_id=") or name in _BASE_MARKERS:
                return "base"
            if name == "latest" or _DATE_DIR.match(name):
                date_dirs = True
    if date_dirs:
        return "dag_processor"
    return None if seen_any else "empty"


def validate_root(path: str, *, allow_any_layout: bool = False) -> tuple[str, str]:
    """Resolve ``path`` once and refuse roots that must never be cleaned.

    A root that is itself a symlink is resolved here, once; below the root nothing is followed.

    :param path: the configured log folder.
    :param allow_any_layout: skip the "looks like an Airflow log folder" check (custom
        ``log_filename_template``); ``/``, system and home directories are refused regardless.
    :return: ``(real path, kind)`` where kind is ``"base"``, ``"dag_processor"`` or ``"empty"``.
    :raises UnsafeRootError: with a one-line reason.
    """
    if not path or not str(path).strip():
        raise UnsafeRootError("no log root given; pass the [logging] base_log_folder")
    real = os.path.realpath(path)
    if not os.path.isdir(real):  # noqa: PTH112
        raise UnsafeRootError(f"log root {path} does not exist or is not a directory")
    shown = path if real == os.path.abspath(path) else f"{path} (-> {real})"  # noqa: PTH100
    if real in _SYSTEM_DIRS:
        raise UnsafeRootError(f"refusing to clean {shown}: it is a system directory, not a log folder")
    system = next((tree for tree in _SYSTEM_TREES if is_within(real, tree)), None)
    airflow_only = next((tree for tree in _AIRFLOW_ONLY_TREES if is_within(real, tree)), None)
    if any(is_within(real, tree) for tree in _SCRATCH_TREES):
        airflow_only = None
    if system and not (airflow_only and is_within(airflow_only, system)):
        raise UnsafeRootError(
            f"refusing to clean {shown}: it is inside the system tree {system}, never a log folder"
        )
    for home in _home_dirs():
        if is_within(home, real):
            raise UnsafeRootError(f"refusing to clean {shown}: it is or contains the home directory {home}")
    kind = _layout_kind(real)
    if kind is None and airflow_only:
        raise UnsafeRootError(
            f"refusing to clean {shown}: inside {airflow_only} only a folder with Airflow's log layout "
            "(dag_id=*, dag_processor/, YYYY-MM-DD/) is cleaned, whatever the flags"
        )
    if kind is None:
        if not allow_any_layout:
            raise UnsafeRootError(
                f"refusing to clean {shown}: it does not look like an Airflow log folder (no dag_id=*, "
                "dag_processor/ or YYYY-MM-DD/ entries); point at [logging] base_log_folder, or pass "
                "--allow-any-layout for a custom log_filename_template"
            )
        kind = "base"
    return real, kind

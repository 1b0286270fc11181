"""What the log cleanup may delete: retention ages, per-DAG overrides, the size cap and the guards.

Plain Python on purpose (no Airflow import): the CLI, the DAG task and the tests build the same
:class:`RetentionPolicy`. Ages are measured precisely in seconds from the file's modification time,
unlike ``find -mtime +N`` which rounds to whole days and really means "older than N+1 days".

:class:`Cutoffs` applies a policy at one moment to Airflow's log layout: which tree a path belongs to
(a DAG's ``dag_id=<id>/``, ``executor_callbacks/<id>/``, the dag-processor's folder) and the modification
time below which its logs may go. The local walker (:mod:`~platform_kit.logcleanup.engine`) and the bucket
walker (:mod:`~platform_kit.logcleanup.remote`) decide with it, so a folder and a bucket holding the same
logs lose the same files.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from platform_kit.defaults import LOG_MIN_AGE_MINUTES, LOG_RETENTION_DAYS, LOG_SIZE_FLOOR_HOURS
from platform_kit.exceptions import PolicyError
from platform_kit.logcleanup.report import CALLBACKS_KEY, DAG_PROCESSOR_KEY, OTHER_KEY
from platform_kit.utils import human_and_exact

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


@dataclass(frozen=True)
class SizeCap:
    """Upper bound for the bytes under a log root: absolute, or a share of the filesystem's capacity.

    :param max_bytes: the cap in bytes, or ``None`` when ``percent`` is used.
    :param percent: the cap as a percentage (0-100] of the filesystem's total size, or ``None``.
    """

    max_bytes: int | None = None
    percent: float | None = None

    def resolve(self, root: str) -> int:
        """The cap in bytes for the filesystem that holds ``root``."""
        if self.max_bytes is not None:
            return self.max_bytes
        stats = os.statvfs(root)
        return int(stats.f_blocks * stats.f_frsize * (self.percent or 0.0) / 100.0)

    def describe(self) -> str:
        if self.percent is not None:
            return f"{self.percent:g}% of the filesystem"
        return human_and_exact(self.max_bytes)


def parse_size(text: str | int | None) -> SizeCap | None:
    """Parse ``"10G"``, ``"512M"``, ``"1048576"`` (bytes, binary units) or ``"80%"`` into a :class:`SizeCap`.

    Empty values mean "no cap".
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        if text <= 0:
            raise PolicyError(f"max size must be positive, got {text}")
        return SizeCap(max_bytes=text)
    raw = str(text)
    if match := _PERCENT_RE.match(raw):
        percent = float(match.group(1))
        if not 0 < percent <= 100:
            raise PolicyError(f"max size percentage must be in (0, 100], got {raw!r}")
        return SizeCap(percent=percent)
    if match := _SIZE_RE.match(raw):
        value = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])
        if value <= 0:
            raise PolicyError(f"max size must be positive, got {raw!r}")
        return SizeCap(max_bytes=value)
    raise PolicyError(
        f"cannot read max size {raw!r}: use bytes with an optional K/M/G/T suffix or a percentage"
    )


def parse_dag_retention(value: str | Mapping[str, object] | None) -> dict[str, float]:
    """Read per-DAG retention in days from a JSON object (``'{"noisy_dag": 3, "audit_dag": 365}'``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise PolicyError(
                f"per-DAG retention is not valid JSON ({exc.msg}); expected e.g. '{{\"dag\": 3}}'"
            ) from None
    if not isinstance(value, Mapping):
        raise PolicyError('per-DAG retention must be a JSON object of dag_id -> days, e.g. {"noisy_dag": 3}')
    result: dict[str, float] = {}
    for dag_id, days in value.items():
        if isinstance(days, bool) or not isinstance(days, int | float) or not math.isfinite(days) or days < 0:
            raise PolicyError(f"per-DAG retention for {dag_id!r} must be a number of days >= 0, got {days!r}")
        result[str(dag_id)] = float(days)
    return result


def _check_number(name: str, value: float, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PolicyError(f"{name} must be a number, got {value!r}")
    if value < minimum:
        raise PolicyError(f"{name} must be >= {minimum:g}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class RetentionPolicy:
    """Which log files are old enough to delete.

    :param retention_days: default age (days) after which a log file is deleted.
    :param retention_hours: added to ``retention_days``; use it alone for sub-day retention.
    :param dag_retention_days: per-DAG overrides in days, keyed by dag_id (``dag_id=<id>/`` folders and
        ``executor_callbacks/<id>/``).
    :param dag_processor_retention_days: retention for the dag-processor tree; ``None`` uses the default.
    :param max_size: optional cap on the bytes under the log root; the oldest files beyond the floor are
        deleted until the root is under it.
    :param size_floor_hours: the size cap never deletes files younger than this, so logs of running
        tasks survive disk pressure.
    :param min_age_minutes: files modified in the last N minutes are never deleted, whatever else the
        policy says (also applies to empty directories).
    """

    retention_days: float = LOG_RETENTION_DAYS
    retention_hours: float = 0.0
    dag_retention_days: Mapping[str, float] = field(default_factory=dict)
    dag_processor_retention_days: float | None = None
    max_size: SizeCap | None = None
    size_floor_hours: float = LOG_SIZE_FLOOR_HOURS
    min_age_minutes: float = LOG_MIN_AGE_MINUTES

    def __post_init__(self) -> None:
        _check_number("retention days", self.retention_days)
        _check_number("retention hours", self.retention_hours)
        if self.retention_seconds <= 0:
            raise PolicyError("retention must be longer than zero: set retention days or hours")
        if self.dag_processor_retention_days is not None:
            _check_number("dag-processor retention days", self.dag_processor_retention_days)
        _check_number("size floor hours", self.size_floor_hours)
        # A zero guard is how the anchors end up deleting the log a quiet task is still writing.
        _check_number("min age minutes", self.min_age_minutes, minimum=1.0)
        object.__setattr__(self, "dag_retention_days", parse_dag_retention(self.dag_retention_days))

    @property
    def retention_seconds(self) -> float:
        return self.retention_days * DAY + self.retention_hours * HOUR

    @property
    def dag_processor_retention_seconds(self) -> float:
        if self.dag_processor_retention_days is None:
            return self.retention_seconds
        return self.dag_processor_retention_days * DAY

    @property
    def min_age_seconds(self) -> float:
        return self.min_age_minutes * MINUTE

    @property
    def size_floor_seconds(self) -> float:
        """Age below which the size cap never deletes (never less than the min-age guard)."""
        return max(self.size_floor_hours * HOUR, self.min_age_seconds)

    def retention_for_dag(self, dag_id: str | None) -> float:
        """Retention in seconds for a DAG's logs (the default when it has no override)."""
        if dag_id is not None and dag_id in self.dag_retention_days:
            return self.dag_retention_days[dag_id] * DAY
        return self.retention_seconds

    def describe(self) -> dict[str, object]:
        """The policy as JSON-friendly facts for the run summary."""
        return {
            "retention_days": self.retention_days,
            "retention_hours": self.retention_hours,
            "dag_retention_days": dict(self.dag_retention_days),
            "dag_processor_retention_days": self.dag_processor_retention_days,
            "max_size": self.max_size.describe() if self.max_size else None,
            "size_floor_hours": self.size_floor_hours,
            "min_age_minutes": self.min_age_minutes,
        }


#: Folders of dag-processor logs at the top of a base log folder ("scheduler" is the Airflow 2 location).
DAG_PROCESSOR_DIR_NAMES = ("dag_processor", "scheduler")
#: Top-level folder of executor callback logs (``executor_callbacks/<dag_id>/...``).
CALLBACKS_DIR_NAME = "executor_callbacks"
#: What a trigger log adds to its attempt log's name: ``attempt=1.log.trigger.<job id>.log``.
TRIGGER_MARK = ".trigger."
#: A dag-processor folder's daily sub-folders (and its ``latest`` link).
DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_attempt_log(name: str) -> bool:
    """``attempt=N.log`` itself (not a trigger log): kept while one of its trigger logs is kept."""
    return name.startswith("attempt=") and TRIGGER_MARK not in name


def attempt_of_trigger_log(name: str) -> str | None:
    """The attempt log a trigger log belongs to (``attempt=1.log`` for ``attempt=1.log.trigger.9.log``)."""
    index = name.find(TRIGGER_MARK)
    return name[:index] if index > 0 else None


def is_dag_processor_date_dir(name: str) -> bool:
    """A dag-processor folder's ``YYYY-MM-DD`` sub-folder or its ``latest`` link."""
    return name == "latest" or DATE_DIR.match(name) is not None


@dataclass(frozen=True)
class Tree:
    """A part of the log layout whose files share one retention.

    :param key: whose logs these are, as the report counts them (a dag_id, ``(dag-processor)``...).
    :param cutoff: files modified before this epoch time may be deleted.
    :param any_files: every regular file is a log (executor callback logs have no ``.log`` suffix).
    """

    key: str
    cutoff: float
    any_files: bool = False

    def is_log(self, name: str) -> bool:
        """Whether a file of this tree named ``name`` is a log the cleanup may judge."""
        return self.any_files or name.endswith(".log")


class Cutoffs:
    """A :class:`RetentionPolicy` applied at ``now``: the tree of each path and its cutoff time.

    The min-age guard wins over any retention: no cutoff is ever later than ``now - min_age``.
    """

    def __init__(self, policy: RetentionPolicy, now: float) -> None:
        self.policy = policy
        self.now = now
        self.guard = now - policy.min_age_seconds
        self.default = self._tree(OTHER_KEY, policy.retention_seconds)
        self.dag_processor = self._tree(DAG_PROCESSOR_KEY, policy.dag_processor_retention_seconds)
        self.callbacks = Tree(CALLBACKS_KEY, self.default.cutoff, any_files=True)
        self._dags: dict[tuple[str, bool], Tree] = {}

    def _tree(self, key: str, retention: float, any_files: bool = False) -> Tree:
        return Tree(key, min(self.now - retention, self.guard), any_files)

    def dag(self, dag_id: str, any_files: bool = False) -> Tree:
        """The tree of one DAG's logs (its per-DAG retention, else the default)."""
        tree = self._dags.get((dag_id, any_files))
        if tree is None:
            tree = self._dags[(dag_id, any_files)] = self._tree(
                dag_id, self.policy.retention_for_dag(dag_id), any_files
            )
        return tree

    def top_level(self, name: str) -> Tree | None:
        """The tree a top-level folder of a base log folder starts, or ``None`` outside Airflow's layout.

        ``dag_id=<id>`` -> that DAG; ``executor_callbacks`` -> callback logs (each ``<dag_id>/`` below it
        gets :meth:`callbacks_of`); ``dag_processor`` / ``scheduler`` -> the dag-processor tree.
        """
        if name.startswith("dag_id="):
            return self.dag(name[7:])
        if name == CALLBACKS_DIR_NAME:
            return self.callbacks
        if name in DAG_PROCESSOR_DIR_NAMES:
            return self.dag_processor
        return None

    def callbacks_of(self, dag_id: str) -> Tree:
        """The tree of ``executor_callbacks/<dag_id>/``: that DAG's retention, every file a log."""
        return self.dag(dag_id, any_files=True)

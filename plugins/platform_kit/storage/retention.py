"""Grandfather-father-son retention over verified backup sets.

Only sets with a verified manifest take part. Incomplete sets (no manifest), unverified ones and sets
whose time cannot be parsed are neither counted nor deleted: they are reported as ``ignored`` so an
operator can look at them. The newest verified set is always kept, whatever the counts.

Retention never races a running backup: a set still being written or verified has no verified manifest
yet, so it is ignored; the run applying retention passes its own set in ``protect`` (it may be older
than a set another run finished meanwhile, and must not delete what it is about to report); a set
verified less than :data:`~platform_kit.defaults.RETENTION_GRACE_MINUTES` ago is kept too (its own run
may still be reporting it); and a set is deleted manifest first, so a verification finishing on it
meanwhile cannot write its manifest back (:func:`~platform_kit.storage.manifest.write_manifest`
replaces only the version it read).

The policy works like restic's ``--keep-daily/--keep-weekly/--keep-monthly``: walking from newest to
oldest, a set is kept for "daily" if it is the newest one of a calendar day (UTC) not yet seen, until N
days are kept; likewise per ISO week and per month. A set kept by any rule stays.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from platform_kit.defaults import KEEP_DAILY, KEEP_MONTHLY, KEEP_WEEKLY, RETENTION_GRACE_MINUTES
from platform_kit.storage.base import ObjectStore
from platform_kit.storage.manifest import BackupSet, delete_set, list_sets, parse_timestamp
from platform_kit.storage.url import StorageURL
from platform_kit.utils import size_fields


@dataclass(frozen=True)
class RetentionPolicy:
    """How many of the newest days, ISO weeks and months keep their newest backup. All ``>= 0``."""

    daily: int = KEEP_DAILY
    weekly: int = KEEP_WEEKLY
    monthly: int = KEEP_MONTHLY

    def __post_init__(self) -> None:
        for name in ("daily", "weekly", "monthly"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"retention {name} must be a whole number >= 0, got {value!r}")


@dataclass
class RetentionPlan:
    """What retention keeps (set id -> reasons), deletes, and ignores (set id -> why)."""

    keep: dict[str, list[str]] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)


_BUCKETS: dict[str, Callable[[datetime], tuple]] = {
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar()[:2]),
    "monthly": lambda t: (t.year, t.month),
}


def _verified_near(backup: BackupSet, now: datetime, grace: timedelta) -> bool:
    stamp = ((backup.manifest or {}).get("verification") or {}).get("verified_at")
    verified = parse_timestamp(stamp) if isinstance(stamp, str) else None
    return verified is not None and abs(verified - now) <= grace


def plan_retention(
    sets: Sequence[BackupSet],
    policy: RetentionPolicy,
    *,
    protect: Collection[str] = (),
    now: datetime | None = None,
    grace: timedelta = timedelta(minutes=RETENTION_GRACE_MINUTES),
) -> RetentionPlan:
    """Decide, without touching storage, which sets to keep and which to delete.

    :param protect: set ids never deleted (the running backup's own set), kept as ``"this run"``.
    :param now: with it, sets verified within ``grace`` of ``now`` are kept (``"just verified"``).
    """
    plan = RetentionPlan()
    candidates: list[BackupSet] = []
    for backup in sets:
        if backup.set_id in protect:
            plan.keep[backup.set_id] = ["this run"]
            if backup.verified and backup.timestamp is not None:
                candidates.append(backup)  # still counts towards the policy
        elif not backup.complete:
            plan.ignored[backup.set_id] = "incomplete (no manifest)"
        elif not backup.verified:
            plan.ignored[backup.set_id] = "not verified"
        elif backup.timestamp is None:
            plan.ignored[backup.set_id] = "timestamp not parseable"
        else:
            candidates.append(backup)
    candidates.sort(key=lambda s: (s.timestamp, s.set_id), reverse=True)
    if not candidates:
        return plan
    plan.keep.setdefault(candidates[0].set_id, []).append("newest verified")
    for rule, bucket_of in _BUCKETS.items():
        limit = getattr(policy, rule)
        seen: list[tuple] = []
        for backup in candidates:
            if len(seen) >= limit:
                break
            bucket = bucket_of(backup.timestamp)
            if bucket in seen:
                continue
            seen.append(bucket)
            plan.keep.setdefault(backup.set_id, []).append(rule)
    if now is not None:
        for backup in candidates:
            if backup.set_id not in plan.keep and _verified_near(backup, now, grace):
                plan.keep[backup.set_id] = ["just verified (its run may still be reporting it)"]
    plan.delete = [s.set_id for s in candidates if s.set_id not in plan.keep]
    return plan


def apply_retention(
    store: ObjectStore,
    url: StorageURL,
    policy: RetentionPolicy,
    *,
    dry_run: bool = True,
    protect: Collection[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """List the sets under ``url``, plan retention and, unless ``dry_run``, delete what the plan drops.

    :param protect: set ids never deleted: the caller's own set (see the module docstring).
    :param now: the run's time (default: now), for the grace of just-verified sets.

    :returns: a summary: ``kept`` (id -> reasons), ``deleted`` or ``would_delete`` (ids), ``ignored``,
        ``objects_deleted`` and ``bytes_freed``.
    """
    sets = list_sets(store, url)
    plan = plan_retention(sets, policy, protect=protect, now=now or datetime.now(UTC))
    by_id = {s.set_id: s for s in sets}
    freed = sum(by_id[i].size for i in plan.delete)
    objects = 0
    if not dry_run:
        for set_id in plan.delete:
            objects += delete_set(store, by_id[set_id])
    return {
        "destination": str(url),
        "policy": {"daily": policy.daily, "weekly": policy.weekly, "monthly": policy.monthly},
        "dry_run": dry_run,
        "kept": plan.keep,
        ("would_delete" if dry_run else "deleted"): plan.delete,
        "ignored": plan.ignored,
        "objects_deleted": objects,
        **size_fields("bytes_would_free" if dry_run else "bytes_freed", freed),
    }

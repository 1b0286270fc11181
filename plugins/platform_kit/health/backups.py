"""The dead man's switch: is there a fresh verified backup in the bucket?

It reads the backup manifests themselves (:mod:`platform_kit.storage`), so it needs neither Prometheus nor
Airflow: it still speaks when the api-server, the scheduler or the metadata DB is gone, which is when a
backup matters most. A set counts when its manifest records a successful verification; its age is
measured from when its dump started (the set id).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from platform_kit.storage import BackupSet, list_sets, open_store
from platform_kit.utils import human_bytes, human_duration, one_line

#: Pseudo-components of the health monitor: the backups' freshness, and whether the bucket can be read.
BACKUP = "backup"
BACKUP_STORAGE = "backup_storage"


def newest_verified(sets: list[BackupSet]) -> BackupSet | None:
    """The newest set, by its parsed time, whose manifest says it was verified."""
    verified = [s for s in sets if s.verified and s.timestamp is not None]
    return max(verified, key=lambda s: (s.timestamp, s.set_id)) if verified else None


def read_backups(
    url: str,
    *,
    max_age_hours: float,
    aws_conn_id: str | None,
    google_conn_id: str | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, tuple[bool, str]]:
    """``{component: (healthy, detail)}`` in the health monitor's format.

    ``backup_storage`` says whether ``url`` could be listed; ``backup`` (only when it could) whether its
    newest verified backup is younger than ``max_age_hours``. A bucket that cannot be read leaves the
    freshness unknown, so the last known state holds and only the reading problem is reported.
    """
    try:
        store, dest = open_store(url, aws_conn_id=aws_conn_id, google_conn_id=google_conn_id)
        newest = newest_verified(list_sets(store, dest))
    except Exception as exc:  # any reason the listing fails is worth the same one alert
        return {BACKUP_STORAGE: (False, f"cannot list {url}: {one_line(exc)}")}
    states = {BACKUP_STORAGE: (True, f"{url} listed")}
    if newest is None:
        states[BACKUP] = (False, f"no verified backup under {url} (limit {max_age_hours:g} h)")
        return states
    assert newest.timestamp is not None
    age = (now() - newest.timestamp).total_seconds()
    size = f", {human_bytes(newest.size)}" if newest.size else ""
    what = f"{newest.url} taken {human_duration(age)} ago{size}"
    if age > max_age_hours * 3600:
        states[BACKUP] = (False, f"newest verified backup {what} (limit {max_age_hours:g} h)")
    else:
        states[BACKUP] = (True, f"verified backup {what}")
    return states

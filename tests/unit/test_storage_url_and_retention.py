"""Storage URL parsing and GFS retention planning (pure logic, no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from platform_kit.storage import BackupSet, RetentionPolicy, StorageError, parse_url, plan_retention
from platform_kit.storage.manifest import MANIFEST_FORMAT, new_set_id, parse_set_id, run_set_id
from platform_kit.storage.s3 import MAX_PARTS, MIN_PART_SIZE, choose_part_size

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "scheme", "bucket", "prefix"),
    [
        ("s3://my-bucket/metadb", "s3", "my-bucket", "metadb"),
        ("gs://my.bucket/a//b/", "gs", "my.bucket", "a/b"),
        ("S3://my-bucket", "s3", "my-bucket", ""),
    ],
)
def test_parse_url(url, scheme, bucket, prefix):
    parsed = parse_url(url)
    assert (parsed.scheme, parsed.bucket, parsed.prefix) == (scheme, bucket, prefix)
    assert parsed.child("x").key("y") == "/".join(p for p in (prefix, "x", "y") if p)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///tmp/x", "unsupported storage scheme 'file'"),
        ("azure://c/x", "unsupported storage scheme"),
        ("my-bucket/x", "not a storage URL"),
        ("s3:///x", "no bucket"),
        ("s3://Bad_Bucket!/x", "invalid bucket name"),
        ("s3://bucket/../x", "'..' is not allowed"),
    ],
)
def test_parse_url_rejects(url, message):
    with pytest.raises(StorageError, match=message.replace("(", r"\(")):
        parse_url(url)


def test_part_size_stays_within_part_limit():
    assert choose_part_size(None) == MIN_PART_SIZE
    assert choose_part_size(10 * 1024 * 1024) == MIN_PART_SIZE
    for size in (80 * 1024**3, 500 * 1024**3, 4 * 1024**4):
        part = choose_part_size(size)
        assert part >= MIN_PART_SIZE and part % (1024 * 1024) == 0
        assert size / part <= MAX_PARTS


def test_set_ids_round_trip():
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert parse_set_id(new_set_id(now)) == now
    assert parse_set_id("latest") is None


def test_runs_of_the_same_second_get_sets_of_their_own_that_still_sort_by_time():
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    ids = {run_set_id(now) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("20260304T050607Z-") and parse_set_id(i) == now for i in ids)
    assert parse_set_id("20260304T050607Z-") is None and parse_set_id("20260304T050607Z-UPPER") is None


def make_set(ts: datetime, *, verified: bool = True, complete: bool = True) -> BackupSet:
    from platform_kit.storage import StorageURL

    set_id = new_set_id(ts)
    manifest = None
    if complete:
        manifest = {"format": MANIFEST_FORMAT, "verification": {"ok": True} if verified else None}
    return BackupSet(set_id, StorageURL("s3", "b", set_id), ts, [], manifest)


def test_gfs_keeps_daily_weekly_monthly_and_ignores_unverified():
    start = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    sets = [make_set(start + timedelta(days=d)) for d in range(120)]
    # Two runs on the newest day: only the newer of the two counts for "daily".
    sets.append(make_set(start + timedelta(days=119, hours=5)))
    unverified = make_set(start + timedelta(days=119, hours=10), verified=False)
    incomplete = make_set(start + timedelta(days=119, hours=11), complete=False)
    shuffled = [*sets[::2], unverified, incomplete, *sets[1::2]]  # listing order must not matter

    plan = plan_retention(shuffled, RetentionPolicy(daily=3, weekly=2, monthly=3))

    newest = new_set_id(start + timedelta(days=119, hours=5))
    assert plan.keep[newest][0] == "newest verified"
    daily = sorted(k for k, why in plan.keep.items() if "daily" in why)
    assert daily == [*sorted(new_set_id(start + timedelta(days=d)) for d in (117, 118)), newest]
    monthly = [k for k, why in plan.keep.items() if "monthly" in why]
    assert sorted(k[:6] for k in monthly) == ["202602", "202603", "202604"]
    assert len([k for k, why in plan.keep.items() if "weekly" in why]) == 2
    assert plan.ignored == {unverified.set_id: "not verified", incomplete.set_id: "incomplete (no manifest)"}
    assert set(plan.delete).isdisjoint(plan.keep)
    assert len(plan.delete) + len(plan.keep) == len(sets)


def test_zero_policy_never_deletes_newest_verified():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sets = [make_set(start + timedelta(days=d)) for d in range(5)]
    sets.append(make_set(start + timedelta(days=9), verified=False))
    plan = plan_retention(sets, RetentionPolicy(daily=0, weekly=0, monthly=0))
    assert list(plan.keep) == [new_set_id(start + timedelta(days=4))]
    assert len(plan.delete) == 4


def test_a_running_backup_keeps_its_own_set_even_when_the_policy_would_drop_it():
    """A run that started earlier but finished after a newer one (a long manual backup overlapping the
    scheduled run) must not delete the set it is about to report."""
    start = datetime(2026, 1, 1, 1, tzinfo=UTC)
    ours, theirs = make_set(start), make_set(start + timedelta(hours=1))
    plan = plan_retention(
        [ours, theirs], RetentionPolicy(daily=1, weekly=0, monthly=0), protect=[ours.set_id]
    )
    assert plan.delete == [] and plan.keep == {
        ours.set_id: ["this run"],
        theirs.set_id: ["newest verified", "daily"],
    }
    # Still a backup like any other for the next run's retention.
    assert plan_retention([ours, theirs], RetentionPolicy(daily=1, weekly=0, monthly=0)).delete == [
        ours.set_id
    ]


def test_a_set_another_run_verified_moments_ago_is_not_deleted_under_it():
    start = datetime(2026, 1, 1, 1, tzinfo=UTC)
    older, newer = make_set(start), make_set(start + timedelta(hours=1))
    policy = RetentionPolicy(daily=1, weekly=0, monthly=0)
    older.manifest["verification"]["verified_at"] = (start + timedelta(hours=2)).isoformat()
    assert plan_retention([older, newer], policy, now=start + timedelta(hours=2, minutes=10)).delete == []
    assert plan_retention([older, newer], policy, now=start + timedelta(hours=4)).delete == [older.set_id]


def test_policy_rejects_negative():
    with pytest.raises(ValueError, match="daily"):
        RetentionPolicy(daily=-1)


def test_destination_from_param_then_variable(monkeypatch):
    from platform_kit.storage import resolve_destination

    monkeypatch.delenv("AIRFLOW_VAR_PK_TEST_URL", raising=False)
    with pytest.raises(StorageError, match="set the destination Param or the Variable pk_test_url"):
        resolve_destination("", "pk_test_url")
    monkeypatch.setenv("AIRFLOW_VAR_PK_TEST_URL", " gs://from-variable/x ")
    assert resolve_destination(None, "pk_test_url") == "gs://from-variable/x"
    assert resolve_destination(" s3://from-param/y", "pk_test_url") == "s3://from-param/y"

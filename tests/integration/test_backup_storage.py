"""The shared storage layer against moto's S3 server and the GCS emulator (both real HTTP)."""

from __future__ import annotations

import hashlib
import io
import json
import os

import pytest
from storage_conns import aws_conn_json, google_conn_json

from platform_kit.exceptions import ConnectionLookupError
from platform_kit.storage import (
    StorageError,
    build_manifest,
    list_sets,
    open_store,
    read_manifest,
    write_manifest,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture
def aws_conn(moto_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_conn_json(moto_server.url))


@pytest.fixture
def google_conn(gcs_server, monkeypatch):
    # The connection names the emulator; the env var set by gcs_bucket is removed so the extra is what counts.
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", google_conn_json(gcs_server.url))


@pytest.fixture(params=["s3", "gs"])
def store_url(request, aws_conn, google_conn, monkeypatch):
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
    else:
        bucket = request.getfixturevalue("gcs_bucket")
        monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    return f"{request.param}://{bucket}/team/backups"


class ExplodingReader:
    """Yields ``good`` bytes then raises, like a producer process that died mid-stream."""

    def __init__(self, good: int) -> None:
        self._data = io.BytesIO(os.urandom(good))

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        if not chunk:
            raise RuntimeError("producer died")
        return chunk


@pytest.mark.matrix  # this minor's amazon/google provider hooks
def test_multipart_stream_round_trip_and_manifest(store_url):
    store, dest = open_store(store_url)
    store.check_writable(dest.key())
    payload = os.urandom(19 * MiB + 123)  # three S3 parts of 8 MiB, several GCS chunks
    set_url = dest.child("20260102T030405Z")
    info = store.upload_stream(set_url.key("data.bin"), io.BytesIO(payload), expected_size=len(payload))
    assert info.sha256 == hashlib.sha256(payload).hexdigest()
    assert info.size == len(payload)
    write_manifest(store, set_url, build_manifest("test", "20260102T030405Z", [info], note="x"))

    assert store.sha256_of(info.key) == (info.sha256, len(payload))
    manifest = read_manifest(store, set_url)
    assert manifest["objects"] == [{"key": info.key, "size": len(payload), "sha256": info.sha256}]
    (found,) = list_sets(store, dest)
    assert found.set_id == "20260102T030405Z" and found.complete and not found.verified
    # Nothing but the payload and the manifest: the writability probe cleaned up after itself.
    assert sorted(o.key for o in store.list(dest.key())) == sorted([info.key, set_url.key("manifest.json")])


def test_failed_stream_leaves_no_object(store_url):
    store, dest = open_store(store_url)
    before = sorted(o.key for o in store.list())
    with pytest.raises(RuntimeError, match="producer died"):
        store.upload_stream(dest.key("broken.bin"), ExplodingReader(20 * MiB), expected_size=20 * MiB)
    assert sorted(o.key for o in store.list()) == before
    if store.scheme == "s3":
        assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def test_listing_follows_pagination(s3_bucket, aws_conn):
    store, dest = open_store(f"s3://{s3_bucket}/many")
    for i in range(1005):  # more than one 1,000-key page
        store.client.put_object(Bucket=s3_bucket, Key=dest.key(f"{i:05d}"), Body=b"")
    assert len(list(store.list(dest.key()))) == 1005


@pytest.mark.matrix  # how this minor's providers refuse a bucket or a connection
def test_missing_bucket_and_wrong_conn_type(aws_conn, moto_server, monkeypatch):
    store, _ = open_store("s3://no-such-bucket-here/x")
    with pytest.raises(StorageError, match="does not exist"):
        store.check_writable("x")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "postgres", "host": "h"}))
    with pytest.raises(ConnectionLookupError, match="expected 'aws'"):
        open_store("s3://bucket-x/y")


def test_retention_deletes_exactly_the_plan_and_never_unverified_sets(s3_bucket, aws_conn):
    from datetime import UTC, datetime, timedelta

    from platform_kit.storage import RetentionPolicy, apply_retention, new_set_id

    store, dest = open_store(f"s3://{s3_bucket}/metadb")
    start = datetime(2026, 1, 1, 2, tzinfo=UTC)

    def make(day: int, *, verified: bool = True, manifest: bool = True) -> str:
        set_id = new_set_id(start + timedelta(days=day))
        set_url = dest.child(set_id)
        info = store.put_bytes(set_url.key("metadb.dump"), b"PGDMP" + bytes(day))
        if manifest:
            body = build_manifest("test", set_id, [info], verification={"ok": verified})
            write_manifest(store, set_url, body)
        return set_id

    verified = [make(day) for day in range(0, 40, 2)]  # 20 verified sets, every other day
    unverified = make(41, verified=False)
    incomplete = make(42, manifest=False)
    before = sorted(o.key for o in store.list())
    policy = RetentionPolicy(daily=3, weekly=1, monthly=2)

    dry = apply_retention(store, dest, policy, dry_run=True)
    assert sorted(o.key for o in store.list()) == before  # a dry run deletes nothing
    assert set(dry["ignored"]) == {unverified, incomplete}

    done = apply_retention(store, dest, policy, dry_run=False)
    assert done["deleted"] == dry["would_delete"] and len(done["deleted"]) == 20 - len(done["kept"])
    remaining = {s.set_id for s in list_sets(store, dest)}
    assert remaining == set(done["kept"]) | {unverified, incomplete}
    assert verified[-1] in remaining  # newest verified
    assert done["objects_deleted"] == 2 * len(done["deleted"])  # dump + manifest of each


def test_checksum_calculation_option_for_s3_compatible_stores(s3_bucket, moto_server, monkeypatch):
    # From the connection extra (how an operator configures MinIO & co) and from the argument.
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        aws_conn_json(moto_server.url, request_checksum_calculation="when_required"),
    )
    store, dest = open_store(f"s3://{s3_bucket}/x")
    assert store.client.meta.config.request_checksum_calculation == "when_required"
    assert store.client.meta.config.response_checksum_validation == "when_required"
    payload = os.urandom(9 * MiB)  # multipart: two parts
    info = store.upload_stream(dest.key("obj"), io.BytesIO(payload), expected_size=len(payload))
    assert store.get_bytes(info.key) == payload  # no aws-chunked framing written into the object
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_conn_json(moto_server.url))
    store, _ = open_store(f"s3://{s3_bucket}/x", request_checksum_calculation="when_required")
    assert store.client.meta.config.request_checksum_calculation == "when_required"

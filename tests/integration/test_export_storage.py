"""Export sets on real object storage (moto's S3 server, the GCS emulator): upload, manifest last,
download and decrypt through the CLI, retention shared with backups, unknown schemes refused."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from platform_kit.cli import main
from platform_kit.export import crypto
from platform_kit.export.engine import ExportRequest, run_export
from platform_kit.export.format import ExportContent, variable_entry
from platform_kit.export.publish import download, open_destination
from platform_kit.storage import StorageError, list_sets, open_store, parse_url

pytestmark = pytest.mark.integration

KEY_TEXT = crypto.generate_key()


@pytest.fixture(params=["s3", "gs"])
def destination_url(request, monkeypatch, tmp_path):
    if request.param == "s3":
        moto = request.getfixturevalue("moto_server")
        bucket = request.getfixturevalue("s3_bucket")
        extra = {"region_name": "us-east-1", "endpoint_url": moto.url}
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}),
        )
    else:
        bucket = request.getfixturevalue("gcs_bucket")
    return f"{request.param}://{bucket}/exports"


def _content() -> ExportContent:
    return ExportContent(
        variables={"api_key": variable_entry("pk-value-ü\n", "the key")},
        connections={"db": {"conn_type": "postgres", "password": "p:@/%#", "port": 5432, "extra": '{"a":1}'}},
    )


@pytest.mark.matrix  # this minor's provider hooks and Variable/Connection reads
def test_daily_exports_publish_verify_and_prune(destination_url, tmp_path, monkeypatch):
    key = crypto.parse_key(KEY_TEXT)
    destination = open_destination(destination_url, keep_daily=2, keep_weekly=0, keep_monthly=0)
    start = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    summaries = [
        run_export(ExportRequest(mode="sdk", key=key), _content, destination, now=start + timedelta(days=day))
        for day in range(3)
    ]
    (deleted,) = summaries[2]["retention"]["deleted"]
    assert deleted.startswith("20261101T020000Z-")

    store, parsed = open_store(destination_url)
    keys = sorted(o.key for o in store.list(parsed.key() + "/"))
    assert [k.split("/")[-2][:16] for k in keys] == ["20261102T020000Z"] * 2 + ["20261103T020000Z"] * 2
    newest = [k for k in keys if "/20261103T020000Z-" in k]
    manifest = json.loads(store.get_bytes(next(k for k in newest if k.endswith("/manifest.json"))))
    assert manifest["kind"] == "variable-connection-export"
    assert manifest["key_fingerprint"] == crypto.key_fingerprint(key)
    assert manifest["counts"] == {"variables": 1, "connections": 1}
    assert manifest["verification"]["ok"] is True
    assert b"pk-value" not in store.get_bytes(next(k for k in newest if k.endswith(".pkexp")))

    _, fetched_manifest = download(summaries[2]["manifest"].rsplit("/", 1)[0])
    assert fetched_manifest["sha256"] == manifest["sha256"]
    monkeypatch.setenv("PK_EXPORT_KEY", KEY_TEXT)
    out = tmp_path / "out"
    assert (
        main(
            [
                "export",
                "decrypt",
                summaries[2]["destination"],
                "--key-env",
                "PK_EXPORT_KEY",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "variables.json").read_text()) == {
        "api_key": {"value": "pk-value-ü\n", "description": "the key"}
    }


def test_a_damaged_upload_is_refused_by_its_manifest(destination_url, tmp_path, monkeypatch, capsys):
    destination = open_destination(destination_url, keep_daily=7, keep_weekly=0, keep_monthly=0)
    summary = run_export(ExportRequest(mode="sdk", key=crypto.parse_key(KEY_TEXT)), _content, destination)
    store, _ = open_store(destination_url)
    artifact = parse_url(summary["destination"])
    store.put_bytes(artifact.prefix, store.get_bytes(artifact.prefix) + b"x")
    monkeypatch.setenv("PK_EXPORT_KEY", KEY_TEXT)
    argv = ["export", "decrypt", summary["destination"], "--key-env", "PK_EXPORT_KEY", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "does not match the sha256 in its manifest" in capsys.readouterr().err


def test_unknown_scheme_is_refused_before_anything_is_read():
    with pytest.raises(StorageError, match="unsupported storage scheme 'ftp'"):
        open_destination("ftp://bucket/x", keep_daily=1, keep_weekly=0, keep_monthly=0)


def test_exports_started_in_the_same_second_each_publish_their_own_set(destination_url):
    """Two runs of the same second used to share a folder: the second overwrote the first's artifact and
    both reported success. Each now writes its own set, create-only, and keeps it from retention."""
    key = crypto.parse_key(KEY_TEXT)
    now = datetime.now(UTC).replace(microsecond=0)  # both runs in this very second
    start = threading.Barrier(2)
    summaries: list[dict] = []

    def run(value: str) -> None:
        destination = open_destination(destination_url, keep_daily=7, keep_weekly=0, keep_monthly=0)

        def collect() -> ExportContent:
            return ExportContent(variables={"who": variable_entry(value, None)})

        start.wait()
        summary = run_export(ExportRequest(mode="sdk", key=key), collect, destination, now=now)
        summaries.append({**summary, "who": value})

    threads = [threading.Thread(target=run, args=(value,)) for value in ("first run", "second run")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(summaries) == 2 and summaries[0]["destination"] != summaries[1]["destination"]
    # The daily rule keeps one export per day, but neither run's retention removed the other's set: it
    # was verified moments ago, its run may still be reporting it.
    store, parsed = open_store(destination_url)
    by_set = {summary["destination"].rsplit("/", 2)[-2]: summary for summary in summaries}
    left = list_sets(store, parsed)
    assert sorted(backup.set_id for backup in left) == sorted(by_set)
    for backup in left:
        summary = by_set[backup.set_id]
        artifact, manifest = download(summary["destination"])
        assert manifest["sha256"] == summary["sha256"] and manifest["verification"]["ok"] is True
        assert json.loads(crypto.decrypt(artifact, key))["variables"]["who"] == summary["who"]

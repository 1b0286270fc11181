"""Metadata-DB backups end to end against a real PostgreSQL, moto's S3 server and the GCS emulator.

The source is a real Airflow metadata DB (a copy of the session's ``airflow db migrate``, then history
written through Airflow's models by ``dbclean_fill.py``), plus rows in a ``_airflow_moved__*`` table whose
data the default options exclude. Fault-injection tests use a separate database with ~40 MB of
incompressible rows so that the dump takes long enough to be interrupted mid-stream; each one checks that
the upload left no object and no manifest, and that the backup taken before it is untouched and still
verifies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import psycopg
import pytest
from airflow_env import migrated_metadata_db
from storage_conns import aws_conn_json, google_conn_json

from platform_kit.backup.engine import create_backup, preflight
from platform_kit.backup.restore import table_counts, verify_backup
from platform_kit.backup.source import target_from_dsn
from platform_kit.cli import main
from platform_kit.exceptions import BackupError
from platform_kit.storage import list_sets, open_store, read_manifest

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def airflow_db(pg, migrated_metadb, tmp_path_factory) -> str:
    """DSN of a migrated Airflow metadata DB with history and a ``_airflow_moved__`` leftover table."""
    name = f"backup_src_{uuid.uuid4().hex[:8]}"
    fill = [str(HERE / "dbclean_fill.py"), "--dags", "2", "--runs", "15", "--days", "30"]
    dsn, _ = migrated_metadata_db(
        pg, name, tmp_path_factory.mktemp("airflow-home"), fill, template=migrated_metadb
    )
    pg.psql(
        "CREATE TABLE _airflow_moved__3_0__dag_run AS SELECT g AS id, md5(g::text) AS note "
        "FROM generate_series(1, 500) g; "
        "INSERT INTO variable (key, val, is_encrypted) SELECT 'v' || g, 'value ' || g, false "
        "FROM generate_series(1, 50) g",
        database=name,
    )
    yield dsn
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def bulky_db(pg) -> str:
    """~80 MB of random text (~45 MB dumped): a dump that takes long enough to interrupt."""
    name = f"backup_bulk_{uuid.uuid4().hex[:8]}"
    dsn = pg.create_database(name)
    pg.psql(
        "CREATE TABLE payload AS SELECT g AS id, md5(random()::text) || md5(random()::text) || "
        "md5(random()::text) AS body FROM generate_series(1, 700000) g",
        database=name,
    )
    yield dsn
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def connections(moto_server, gcs_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_conn_json(moto_server.url))
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", google_conn_json(gcs_server.url))


def _metadb_conn(monkeypatch, dsn: str) -> None:
    target = target_from_dsn(dsn)
    p = target.params
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRFLOW_METADB",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": p["host"],
                "port": int(p["port"]),
                "login": p["user"],
                "password": p["password"],
                "schema": p["dbname"],
            }
        ),
    )


def _bucket_url(request, scheme: str) -> str:
    if scheme == "s3":
        return f"s3://{request.getfixturevalue('s3_bucket')}/metadb"
    bucket = request.getfixturevalue("gcs_bucket")
    return f"gs://{bucket}/metadb"


def _json_out(capsys):
    """The JSON document the CLI printed (stdout carries nothing else, but be tolerant of stray log lines)."""
    out = capsys.readouterr().out
    if out.startswith(("{", "[")):
        return json.loads(out)
    return json.loads(out[min(i for i in (out.find("\n{"), out.find("\n[")) if i >= 0) + 1 :])


def _snapshot(store, dest) -> dict[str, int]:
    return {o.key: o.size for o in store.list(dest.key())}


@pytest.mark.matrix  # a dump of this minor's metadata schema, restored and verified
@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_backup_verify_restore_round_trip(
    request, scheme, connections, airflow_db, pg, pg_database, monkeypatch, capsys
):
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "x" * 43 + "=")
    _metadb_conn(monkeypatch, airflow_db)
    url = _bucket_url(request, scheme)

    # The operators' CLI, through the airflow_metadb connection, with verification.
    assert main(["backup", "create", "--to", url, "--json"]) == 0, capsys.readouterr().err
    created = _json_out(capsys)
    assert created["verification"]["ok"] is True
    assert created["verification"]["toc_table_data"] > 10

    store, dest = open_store(url)
    (backup,) = list_sets(store, dest)
    manifest = read_manifest(store, backup.url)
    source_counts = table_counts(target_from_dsn(airflow_db))
    # Counted in the dump's own snapshot: the source is idle, so they equal a fresh count.
    assert manifest["row_counts"] == source_counts
    assert manifest["row_counts"]["task_instance"] > 0 and manifest["row_counts"]["log"] > 0
    assert manifest["excluded_table_data"] == ["_airflow_moved__3_0__dag_run"]
    assert manifest["alembic_revision"] and manifest["server_version"].startswith("15")
    assert manifest["fernet_key"]["status"] == "present"
    assert "x" * 43 not in json.dumps(manifest)  # a fingerprint, never the key
    assert manifest["objects"][0]["sha256"] == manifest["sha256"] == store.sha256_of(manifest["dump_key"])[0]
    assert backup.verified

    # Full restore test into a scratch DB on the same server, which is then dropped.
    assert main(["backup", "verify", str(backup.url), "--restore-test-dsn", pg.dsn(), "--json"]) == 0
    verified = _json_out(capsys)
    assert verified["restore_test"]["mismatches"] == {}
    assert verified["restore_test"]["tables"] == len(source_counts)
    assert pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'platform_kit_restore_test%'") == "0"

    # Restore into a fresh database: every table has exactly the source's rows (excluded data: none).
    assert main(["backup", "restore", url, "--target-dsn", pg_database, "--json"]) == 0
    restored = _json_out(capsys)
    assert restored["mismatches"] == {}
    expected = {**source_counts, "_airflow_moved__3_0__dag_run": 0}
    assert table_counts(target_from_dsn(pg_database)) == expected

    # A second restore into the now non-empty target is refused without --force, and works with it.
    assert main(["backup", "restore", url, "--target-dsn", pg_database]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["backup", "restore", url, "--target-dsn", pg_database, "--force", "--json"]) == 0
    assert _json_out(capsys)["mismatches"] == {}

    assert main(["backup", "list", url]) == 0
    assert "verified" in capsys.readouterr().out


def test_restore_refuses_damaged_object_before_touching_target(
    connections, s3_bucket, airflow_db, pg_database, capsys
):
    store, dest = open_store(f"s3://{s3_bucket}/metadb")
    manifest = create_backup(target_from_dsn(airflow_db), store, dest)
    # Replace the dump with different bytes of the same length.
    body = bytearray(store.get_bytes(manifest["dump_key"]))
    body[-100] ^= 0xFF
    store.client.put_object(Bucket=s3_bucket, Key=manifest["dump_key"], Body=bytes(body))
    set_url = str(dest.child(manifest["set_id"]))
    assert main(["backup", "restore", set_url, "--target-dsn", pg_database]) == 2
    assert "does not match its manifest" in capsys.readouterr().err
    assert table_counts(target_from_dsn(pg_database)) == {}
    # Given only the prefix, restore looks for a verified backup and there is none.
    assert main(["backup", "restore", str(dest), "--target-dsn", pg_database]) == 2
    assert "no verified backup under" in capsys.readouterr().err
    with pytest.raises(BackupError, match="does not match its manifest"):
        verify_backup(store, dest.child(manifest["set_id"]))
    assert read_manifest(store, dest.child(manifest["set_id"]))["verification"]["ok"] is False


# --- fault injection -------------------------------------------------------------------------------------


@pytest.fixture
def earlier_backup(connections, bulky_db, request):
    """A destination with one verified backup taken before the fault."""

    def make(url: str):
        store, dest = open_store(url)
        manifest = create_backup(target_from_dsn(bulky_db), store, dest, set_id="20260101T000000Z")
        verify_backup(store, dest.child(manifest["set_id"]))
        return store, dest, _snapshot(store, dest)

    return make


def _assert_untouched(store, dest, before: dict[str, int]) -> None:
    assert _snapshot(store, dest) == before  # no new object, no manifest; old ones unchanged
    (only,) = list_sets(store, dest)
    assert verify_backup(store, only.url, record=False)["ok"]


def _children(parent: int, comm: str, marker: bytes = b"") -> list[int]:
    """Pids of the ``comm`` processes whose parent is ``parent`` (and whose command line has ``marker``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields[1] == f"({comm})" and int(fields[3]) == parent and marker in cmdline:
            found.append(int(fields[0]))
    return found


def _dump_of(parent: int) -> int | None:
    """The pid of the pg_dump that ``parent`` runs to stream a dump (not a ``--version`` probe)."""
    pids = _children(parent, "pg_dump", b"--format=custom")
    return pids[0] if pids else None


def _child_pg_dump() -> int | None:
    """The pid of the pg_dump that streams a dump started by this process."""
    return _dump_of(os.getpid())


def _bytes_written(pid: int | None) -> int:
    """How much a process has written so far (``wchar`` in /proc/PID/io): here, into the upload pipe."""
    try:
        io_stats = Path(f"/proc/{pid}/io").read_text()
    except (OSError, TypeError):
        return 0
    return int(next(line.split()[1] for line in io_stats.splitlines() if line.startswith("wchar")))


def _when(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def _run_in_thread(fn):
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def _upload_started(store) -> bool:
    return bool(store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads"))


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_pg_dump_killed_mid_stream(request, scheme, earlier_backup, bulky_db):
    store, dest, before = earlier_backup(_bucket_url(request, scheme))
    thread, outcome = _run_in_thread(lambda: create_backup(target_from_dsn(bulky_db), store, dest))
    # Mid-stream: more than one S3 part / GCS chunk (16 MiB) has left pg_dump, and it is still running.
    _when(lambda: _bytes_written(_child_pg_dump()) > 20 * MiB)
    os.kill(_child_pg_dump(), signal.SIGKILL)
    thread.join(120)
    assert isinstance(outcome.get("error"), BackupError), outcome
    assert "pg_dump failed (killed by signal 9)" in str(outcome["error"])
    _assert_untouched(store, dest, before)
    if scheme == "s3":
        assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def test_s3_endpoint_stopped_mid_upload(tmp_path, earlier_backup, bulky_db, monkeypatch):
    """A dedicated moto server is frozen (SIGSTOP: the endpoint stops answering, like a network
    partition) once the multipart upload has started, and resumed afterwards so we can inspect it.
    Killing it outright would lose moto's in-memory state and with it the evidence."""
    from twin.services import create_s3_bucket, start_moto

    moto = start_moto(log_dir=tmp_path)
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            aws_conn_json(
                moto.url,
                config_kwargs={
                    "read_timeout": 3,
                    "connect_timeout": 3,
                    "retries": {"max_attempts": 1, "mode": "standard"},
                },
            ),
        )
        create_s3_bucket(moto.url, "frozen")
        store, dest, before = earlier_backup("s3://frozen/metadb")
        thread, outcome = _run_in_thread(lambda: create_backup(target_from_dsn(bulky_db), store, dest))
        _when(lambda: _upload_started(store))
        os.killpg(moto.proc.pid, signal.SIGSTOP)
        try:
            thread.join(180)
        finally:
            os.killpg(moto.proc.pid, signal.SIGCONT)
        assert isinstance(outcome.get("error"), BackupError), outcome
        assert "nothing was committed" in str(outcome["error"])
        assert _child_pg_dump() is None  # pg_dump was stopped, not left blocked on a full pipe
        _assert_untouched(store, dest, before)
        # The abort could not reach the frozen endpoint: the bucket lifecycle rule
        # AbortIncompleteMultipartUpload (docs/backup.md) is what removes such parts.
    finally:
        moto.stop()


def test_wrong_password(connections, s3_bucket, earlier_backup, bulky_db):
    store, dest, before = earlier_backup(f"s3://{s3_bucket}/metadb")
    source = target_from_dsn(bulky_db)
    wrong = type(source)({**source.params, "password": "not-the-password"})
    with pytest.raises(
        BackupError, match=r"password authentication failed.*check the host, port, user and password"
    ):
        create_backup(wrong, store, dest)
    _assert_untouched(store, dest, before)


def test_client_older_than_server(connections, s3_bucket, earlier_backup, bulky_db, tmp_path, monkeypatch):
    """Simulated: a wrapper named pg_dump first on PATH reports version 13 and otherwise runs the real one."""
    store, dest, before = earlier_backup(f"s3://{s3_bucket}/metadb")
    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    real = subprocess.run(["which", "pg_dump"], capture_output=True, text=True, check=True).stdout.strip()
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 13.16"; exit 0; fi\n'
        f'exec {real} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    with pytest.raises(
        BackupError, match=r"pg_dump 13.16 is older than the server .*install postgresql-client-15"
    ):
        create_backup(target_from_dsn(bulky_db), store, dest)
    _assert_untouched(store, dest, before)


def test_bucket_deleted_between_preflight_and_upload(connections, moto_server, earlier_backup, bulky_db):
    # The earlier backup lives in another bucket; the target bucket exists at preflight and is gone after.
    from twin.services import create_s3_bucket

    store, dest, before = earlier_backup(_new_bucket_url(moto_server))
    doomed = f"doomed-{uuid.uuid4().hex[:8]}"
    create_s3_bucket(moto_server.url, doomed)
    doomed_store, doomed_dest = open_store(f"s3://{doomed}/metadb")
    source = target_from_dsn(bulky_db)
    preflight(source, doomed_store, doomed_dest)
    boto3.client(
        "s3",
        endpoint_url=moto_server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).delete_bucket(Bucket=doomed)
    with pytest.raises(BackupError, match=r"bucket '.*' does not exist.*nothing was committed"):
        create_backup(source, doomed_store, doomed_dest, check_destination=False)
    with pytest.raises(Exception, match=r"NoSuchBucket|Not Found|404"):
        doomed_store.client.head_bucket(Bucket=doomed)  # nothing recreated it
    _assert_untouched(store, dest, before)


def _new_bucket_url(moto_server) -> str:
    from twin.services import create_s3_bucket

    bucket = f"keep-{uuid.uuid4().hex[:8]}"
    create_s3_bucket(moto_server.url, bucket)
    return f"s3://{bucket}/metadb"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "ftp://bucket/x"], "unsupported storage scheme 'ftp'"),
        (["--to", "s3://no-such-bucket-xyz/x"], "S3 bucket 'no-such-bucket-xyz' does not exist; create it"),
        (["--to", "s3://b-b-b/x", "--conn-id", "not_pg"], "has conn type 'http', expected 'postgres'"),
        (
            ["--to", "s3://b-b-b/x", "--dsn", "postgresql://u:p@127.0.0.1:1/db"],
            "cannot connect to u@127.0.0.1:1/db",
        ),
        (["--to", "s3://b-b-b/x", "--pg-bin-dir", "/nonexistent"], "pg_dump not found in /nonexistent"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    argv, message, connections, bulky_db, moto_server, monkeypatch, capsys
):
    _metadb_conn(monkeypatch, bulky_db)
    monkeypatch.setenv("AIRFLOW_CONN_NOT_PG", json.dumps({"conn_type": "http", "host": "x"}))
    from twin.services import create_s3_bucket

    create_s3_bucket(moto_server.url, "b-b-b")
    assert main(["backup", "create", *argv]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("platform-kit: error:")]
    assert len(errors) == 1 and message in errors[0]  # one line saying what and what to do
    store, _ = open_store("s3://b-b-b/x")
    assert list(store.list()) == []


def test_failed_manifest_write_removes_the_dump(connections, s3_bucket, bulky_db, monkeypatch):
    """Fault injected in-process (the manifest write raises, as if the store refused it at the last
    step): the committed dump must not linger without its manifest."""
    import platform_kit.backup.engine as engine

    def refuse(*args, **kwargs):
        raise PermissionError("AccessDenied on manifest.json")

    monkeypatch.setattr(engine, "write_manifest", refuse)
    store, dest = open_store(f"s3://{s3_bucket}/metadb")
    with pytest.raises(BackupError, match=r"could not write the manifest .* the dump was removed"):
        create_backup(target_from_dsn(bulky_db), store, dest)
    assert list(store.list()) == []


# --- every run owns its set, signals end runs through their cleanup, hostile targets (issue 15) -----------

PLATFORM_KIT = str(Path(sys.executable).with_name("platform-kit"))


class _SameSecond(datetime):
    """The clock both runs read: two processes cannot be made to start in the same second reliably
    here, so the engine's clock is pinned instead (everything else, pg_dump and the stores, is real)."""

    @classmethod
    def now(cls, tz=None):
        return cls(2026, 11, 30, 9, 57, 33, tzinfo=UTC)


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_runs_started_in_the_same_second_each_commit_and_report_their_own_set(
    request, scheme, connections, airflow_db, monkeypatch
):
    import platform_kit.backup.engine as engine

    url = _bucket_url(request, scheme)
    monkeypatch.setattr(engine, "datetime", _SameSecond)
    start = threading.Barrier(2)

    def run():
        store, dest = open_store(url)
        start.wait()
        return create_backup(target_from_dsn(airflow_db), store, dest)

    runs = [_run_in_thread(run) for _ in range(2)]
    for thread, _ in runs:
        thread.join(300)
    first, second = (outcome["result"] for _, outcome in runs)

    assert first["set_id"] != second["set_id"]
    assert first["set_id"].startswith("20261130T095733Z-") and second["set_id"].startswith(
        "20261130T095733Z-"
    )
    store, dest = open_store(url)
    assert {s.set_id for s in list_sets(store, dest)} == {first["set_id"], second["set_id"]}
    for manifest in (first, second):
        set_url = dest.child(manifest["set_id"])
        assert read_manifest(store, set_url)["sha256"] == manifest["sha256"]
        assert store.sha256_of(manifest["dump_key"])[0] == manifest["sha256"]
        assert verify_backup(store, set_url, expected_sha256=manifest["sha256"])["ok"]


def test_a_second_writer_of_one_set_fails_in_one_line_and_leaves_the_first_intact(
    connections, s3_bucket, bulky_db
):
    """Only a caller that names the set can collide (runs pick unique names): S3's If-None-Match makes
    the later commit fail instead of replacing the object. The GCS emulator ignores ifGenerationMatch,
    so this runs on S3 only; on GCS the same request carries ifGenerationMatch=0."""
    from platform_kit.backup.engine import DumpOptions

    url = f"s3://{s3_bucket}/metadb"
    start = threading.Barrier(2)

    def run(level: int):
        store, dest = open_store(url)
        start.wait()
        options = DumpOptions(compress_level=level)  # 0 finishes well before 9: a fixed order
        return create_backup(
            target_from_dsn(bulky_db), store, dest, set_id="20260102T000000Z", options=options
        )

    (fast, fast_outcome), (slow, slow_outcome) = (
        _run_in_thread(lambda: run(0)),
        _run_in_thread(lambda: run(9)),
    )
    fast.join(300)
    slow.join(300)
    winner, error = fast_outcome["result"], slow_outcome.get("error")
    assert isinstance(error, BackupError), slow_outcome
    assert "already exists: another run wrote it first" in str(error) and "\n" not in str(error)
    store, dest = open_store(url)
    set_url = dest.child("20260102T000000Z")
    assert (
        read_manifest(store, set_url)["sha256"] == winner["sha256"] == store.sha256_of(winner["dump_key"])[0]
    )
    assert verify_backup(store, set_url, expected_sha256=winner["sha256"])["ok"]
    assert store.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def _verified_set(store, dest, set_id: str, dump: bytes) -> None:
    from platform_kit.storage import build_manifest, write_manifest

    set_url = dest.child(set_id)
    info = store.put_bytes(set_url.key("metadb.dump"), dump)
    manifest = build_manifest(
        "platform-kit-metadb-backup", set_id, [info], dump_key=info.key, verification={"ok": True}
    )
    write_manifest(store, set_url, manifest)


def test_retention_of_a_run_never_deletes_the_set_it_reports(connections, s3_bucket):
    """Run A started at 01:00 and finished after run B (02:00): with keep_daily=1 A's own retention
    used to delete A's set, the one its summary then reported."""
    from platform_kit.backup.tasks import retention_task

    url = f"s3://{s3_bucket}/metadb"
    store, dest = open_store(url)
    ours, theirs = "20260103T010000Z", "20260103T020000Z"  # ids a caller may name (no run token)
    _verified_set(store, dest, ours, b"PGDMP ours")
    _verified_set(store, dest, theirs, b"PGDMP theirs")
    params = {"keep_daily": 1, "keep_weekly": 0, "keep_monthly": 0, "retention_dry_run": False}
    dumped = {
        "backup": str(dest.child(ours)),
        "set_id": ours,
        "destination": url,
        "size": 10,
        "sha256": "x",
        "dump_seconds": 1,
        "server_version": "15",
        "airflow_version": "3",
        "alembic_revision": "r",
        "rows": {},
        "tables": 1,
        "excluded_table_data": [],
        "fernet_key": {"status": "present", "fingerprints": ["ab" * 32]},
    }
    summary = retention_task(params, dumped, {"ok": True, "sha256_ok": True, "toc_entries": 3})
    assert {s.set_id for s in list_sets(store, dest)} == {ours, theirs}
    assert summary["retention"]["deleted"] == []


def test_a_verification_never_brings_back_a_set_deleted_while_it_ran(connections, s3_bucket, bulky_db, pg):
    """Retention deletes a set (manifest first) while a verify of it is restoring: the verify used to
    write the manifest back, leaving a 'verified' set without its dump. S3 only (If-Match); the GCS
    emulator ignores ifGenerationMatch."""
    from platform_kit.storage import delete_set

    store, dest = open_store(f"s3://{s3_bucket}/metadb")
    manifest = create_backup(target_from_dsn(bulky_db), store, dest)
    set_url = dest.child(manifest["set_id"])
    thread, outcome = _run_in_thread(
        lambda: verify_backup(store, set_url, restore_test=target_from_dsn(pg.dsn()))
    )
    # The restore is copying rows: the dump is being read, the manifest was read long ago.
    _when(
        lambda: (
            pg.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'platform_kit_restore_test%' "
                "AND query LIKE 'COPY%'"
            )
            != "0"
        ),
        timeout=120,
    )
    (backup,) = list_sets(store, dest)
    delete_set(store, backup)
    thread.join(300)
    assert isinstance(outcome.get("error"), BackupError), outcome
    assert "deleted or rewritten while it was being verified" in str(outcome["error"])
    assert list(store.list(set_url.key())) == []


@pytest.mark.parametrize(
    ("scheme", "sig"), [("s3", signal.SIGTERM), ("s3", signal.SIGINT), ("gs", signal.SIGTERM)]
)
def test_a_signal_mid_upload_aborts_it_stops_pg_dump_and_ends_in_one_line(
    request, scheme, sig, connections, bulky_db
):
    url = _bucket_url(request, scheme)
    store, dest = open_store(url)
    cli = subprocess.Popen(
        [PLATFORM_KIT, "backup", "create", "--to", url, "--dsn", bulky_db, "--no-verify"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Mid-stream: more than one S3 part / GCS chunk (16 MiB) has left pg_dump, and it is still running.
        _when(lambda: _bytes_written(_dump_of(cli.pid)) > 20 * MiB, timeout=180)
        dump = _dump_of(cli.pid)
        if scheme == "s3":
            assert _upload_started(store)
        cli.send_signal(sig)
        out, err = cli.communicate(timeout=120)
    finally:
        cli.kill()
    name = signal.Signals(sig).name
    assert cli.returncode == 128 + sig, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"platform-kit: interrupted by {name}; pg_dump stopped, upload to ")
    assert "aborted, nothing committed" in last and out == ""
    assert not Path(f"/proc/{dump}").exists()  # pg_dump ended (and was reaped)
    assert list(store.list(dest.key())) == []
    if scheme == "s3":
        assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def _scratch_databases(pg) -> list[str]:
    listed = pg.psql(
        "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database "
        "WHERE datname LIKE 'platform_kit_restore_test%'"
    )
    return [name for name in listed.split(",") if name]


def _copying_into(pg, exclude: tuple[str, ...] = ()) -> str | None:
    """The scratch database a restore test is copying rows into, if any (not one of ``exclude``)."""
    rows = pg.psql(
        "SELECT string_agg(datname, ',') FROM pg_stat_activity "
        "WHERE datname LIKE 'platform_kit_restore_test%' AND query LIKE 'COPY%'"
    )
    names = [name for name in rows.split(",") if name and name not in exclude]
    return names[0] if names else None


def test_restore_tests_leave_no_scratch_database_behind(connections, s3_bucket, bulky_db, pg):
    """SIGTERM drops the scratch database on the way out; one a SIGKILLed run leaves behind is dropped
    by the next verify, and never one that another verify is still using."""
    store, dest = open_store(f"s3://{s3_bucket}/metadb")
    manifest = create_backup(target_from_dsn(bulky_db), store, dest)
    set_url = str(dest.child(manifest["set_id"]))

    def verify() -> subprocess.Popen:
        argv = [PLATFORM_KIT, "backup", "verify", set_url, "--restore-test-dsn", pg.dsn(), "--json"]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    terminated = verify()
    _when(lambda: _copying_into(pg), timeout=180)
    terminated.send_signal(signal.SIGTERM)
    _, err = terminated.communicate(timeout=120)
    assert terminated.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("platform-kit: interrupted by SIGTERM;") and "scratch database" in last
    assert "pg_restore stopped" in last and "Traceback" not in err
    assert _scratch_databases(pg) == []

    killed = verify()
    _when(lambda: _copying_into(pg), timeout=180)
    killed.kill()  # SIGKILL: no cleanup code runs
    killed.wait()
    (leftover,) = _scratch_databases(pg)

    following = verify()
    in_use = []
    _when(lambda: in_use.append(_copying_into(pg, exclude=(leftover,))) or in_use[-1], timeout=180)
    from platform_kit.backup.restore import drop_leftover_scratch_databases

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        assert drop_leftover_scratch_databases(conn) == []  # the running test's database is in use
    out, err = following.communicate(timeout=300)
    assert following.returncode == 0, err
    result = json.loads(out)
    assert result["restore_test"]["mismatches"] == {}
    assert result["restore_test"]["leftover_scratch_databases_dropped"] == [leftover]
    assert _scratch_databases(pg) == []


def _error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("platform-kit: error:")]


def test_restore_refuses_any_user_object_and_quotes_the_servers_error(
    connections, s3_bucket, airflow_db, pg_database, capsys
):
    store, dest = open_store(f"s3://{s3_bucket}/metadb")
    manifest = create_backup(target_from_dsn(airflow_db), store, dest)
    set_url = str(dest.child(manifest["set_id"]))
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE SCHEMA app; CREATE TYPE app.mood AS ENUM ('ok'); CREATE SEQUENCE app.counter; "
            "CREATE VIEW public.log AS SELECT 1 AS id; "
            "CREATE FUNCTION app.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'"
        )
    target = target_from_dsn(pg_database)

    def objects() -> list[tuple]:
        """Every relation, type and function in the two schemas, straight from the catalogs."""
        with psycopg.connect(pg_database) as conn:
            return conn.execute(
                "SELECT 'rel', relname, relkind::text FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = relnamespace WHERE nspname IN ('public', 'app')"
                " UNION ALL SELECT 'type', typname, typtype::text FROM pg_type t"
                " JOIN pg_namespace n ON n.oid = typnamespace WHERE nspname IN ('public', 'app')"
                " UNION ALL SELECT 'proc', proname, '' FROM pg_proc p"
                " JOIN pg_namespace n ON n.oid = pronamespace WHERE nspname IN ('public', 'app')"
                " ORDER BY 1, 2, 3"
            ).fetchall()

    before = objects()
    assert table_counts(target) == {}  # not a single table: the old check called this target "empty"
    assert main(["backup", "restore", set_url, "--target-dsn", pg_database]) == 2
    (line,) = _error_lines(capsys)
    assert "is not empty (1 function, 1 sequence, 1 type, 1 view: app.answer" in line

    # Forced, pg_restore fails on the view named like a table of the dump; the line is the server's.
    assert main(["backup", "restore", set_url, "--target-dsn", pg_database, "--force"]) == 2
    (line,) = _error_lines(capsys)
    assert line.startswith("platform-kit: error: pg_restore failed (exit code 1): ERROR: ")
    assert '"log"' in line and "Command was" not in line
    assert objects() == before  # one transaction: the target is as it was


def test_an_endpoint_that_accepts_but_never_answers_fails_within_about_a_minute(airflow_db):
    """A listening socket nobody accepts on: connections succeed, no byte ever comes back. botocore's
    and google-cloud-storage's defaults let that hang a call for three minutes or more."""
    import socket

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(128)
    endpoint = f"http://127.0.0.1:{hole.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "STORAGE_EMULATOR"))}
    env["AIRFLOW_CONN_AWS_DEFAULT"] = aws_conn_json(endpoint)
    env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = google_conn_json(endpoint)
    runs = {
        scheme: subprocess.Popen(
            [
                PLATFORM_KIT,
                "backup",
                "create",
                "--to",
                f"{scheme}://silent-bucket/metadb",
                "--dsn",
                airflow_db,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for scheme in ("s3", "gs")
    }
    try:
        for scheme, proc in runs.items():
            # docs/backup.md promises about a minute; the CLI's start-up comes on top.
            _, err = proc.communicate(timeout=150)
            errors = [line for line in err.splitlines() if line.startswith("platform-kit: error:")]
            assert proc.returncode == 2, (scheme, err[-2000:])
            assert len(errors) == 1 and "silent-bucket" in errors[0] and "Traceback" not in err
    finally:
        for proc in runs.values():
            proc.kill()
        hole.close()

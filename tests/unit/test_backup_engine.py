"""Backup engine pieces that need no services: the process stream, pg_dump arguments, libpq env."""

from __future__ import annotations

import sys

import pytest

from platform_kit.backup.engine import DumpOptions, matches_any
from platform_kit.backup.pgtools import ProcessStream, check_client_not_older
from platform_kit.backup.source import PgTarget, target_from_dsn
from platform_kit.exceptions import BackupError
from platform_kit.storage.s3 import MAX_PARTS, MIN_PART_SIZE, _grown_part_size

pytestmark = pytest.mark.unit


def _stream(script: str, **kwargs) -> ProcessStream:
    # A real child process standing in for pg_dump: what matters is how its exit status reaches read().
    return ProcessStream([sys.executable, "-c", script], PgTarget(), label="pg_dump", **kwargs)


def _drain(stream: ProcessStream) -> bytes:
    data = b""
    while chunk := stream.read(1 << 16):
        data += chunk
    return data


def test_eof_only_after_a_clean_exit():
    stream = _stream("import sys; sys.stdout.buffer.write(b'PGDMP' + b'x' * 300000)", expect_magic=b"PGDMP")
    assert len(_drain(stream)) == 300005


def test_nonzero_exit_after_output_raises_instead_of_eof():
    stream = _stream(
        "import sys; sys.stdout.buffer.write(b'PGDMP' + b'x' * 100000); sys.stdout.flush();"
        "sys.stderr.write('pg_dump: error: connection lost\\n'); sys.exit(3)",
        expect_magic=b"PGDMP",
    )
    with pytest.raises(BackupError, match=r"pg_dump failed \(exit code 3\); pg_dump: error: connection lost"):
        _drain(stream)


def test_empty_or_foreign_output_is_rejected():
    with pytest.raises(BackupError, match="empty dump"):
        _drain(_stream("pass", expect_magic=b"PGDMP"))
    with pytest.raises(BackupError, match="unexpected output"):
        _drain(_stream("print('-- plain SQL')", expect_magic=b"PGDMP"))


def test_pg_dump_args_and_password_only_in_env(monkeypatch):
    # What the DSN sets wins over the shell's libpq variables; what it leaves out comes from them, as it
    # does for the psycopg connection in this process (PGPASSWORD, PGSSLROOTCERT...).
    monkeypatch.setenv("PGPASSWORD", "from-the-shell")
    monkeypatch.setenv("PGSSLMODE", "disable")
    monkeypatch.setenv("PGSSLROOTCERT", "/etc/ssl/db-ca.pem")
    target = target_from_dsn("postgresql://airflow:s3cret@db.internal:5433/airflow?sslmode=require")
    env = target.env()
    assert env["PGPASSWORD"] == "s3cret" and env["PGHOST"] == "db.internal" and env["PGPORT"] == "5433"
    assert env["PGSSLMODE"] == "require" and env["PGSSLROOTCERT"] == "/etc/ssl/db-ca.pem"
    without_password = target_from_dsn("postgresql://airflow@db.internal/airflow?passfile=/run/pgpass")
    env = without_password.env()
    assert env["PGPASSWORD"] == "from-the-shell" and env["PGPASSFILE"] == "/run/pgpass"
    args = DumpOptions(exclude_table_data=("log",), lock_wait_timeout_s=30).pg_dump_args()
    assert {"--format=custom", "--no-owner", "--no-privileges", "--lock-wait-timeout=30000"} <= set(args)
    assert "--exclude-table-data=log" in args
    assert not any("s3cret" in a for a in args)
    assert target.describe() == "airflow@db.internal:5433/airflow"


def test_exclude_patterns_match_like_pg_dump():
    patterns = ("_airflow_deleted__*", "audit.*")
    assert matches_any("public", "_airflow_deleted__dag_run__20260101", patterns)
    assert matches_any("audit", "anything", patterns)
    assert not matches_any("public", "dag_run", patterns)


def test_client_version_check():
    check_client_not_older("pg_dump", (16, 2), (15, 4), "15.4")
    with pytest.raises(BackupError, match="install postgresql-client-16 or newer"):
        check_client_not_older("pg_dump", (15, 9), (16, 1), "16.1")
    with pytest.raises(BackupError, match=r"postgresql-client-9\.6"):
        check_client_not_older("pg_dump", (9, 5), (9, 6), "9.6.24")


def test_parts_grow_when_the_estimate_was_too_low():
    capacity = sum(_grown_part_size(MIN_PART_SIZE, n) for n in range(1, MAX_PARTS + 1))
    # 80,000 MiB if parts never grew; > 1 TiB with growth, all within 10,000 parts.
    assert capacity > 1024**4

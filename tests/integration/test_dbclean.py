"""The metadata-DB cleanup against a real Airflow metadata DB in PostgreSQL.

A copy of the session's migrated metadata DB (``airflow db migrate``) is filled through Airflow's own
models (runs, task instances, XComs, ``log`` rows spread over 120 days; see ``dbclean_fill.py``), once per
module, and every test cleans its own copy (``CREATE DATABASE ... TEMPLATE``). Expected numbers are
computed with plain SQL, independently of core's cleanup code, and compared with what the summary reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from airflow_env import airflow_cli_env, migrated_metadata_db
from plain_shell import plain_shell

from platform_kit.dbclean import ArchiveMode, CleanupOptions, clean_metadb, url_from_dsn
from platform_kit.exceptions import AirflowCompatError, DbCleanupError
from platform_kit.version_compat import AIRFLOW_V_3_2_PLUS

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RETENTION_DAYS = 30
COUNTED_TABLES = ("dag_run", "task_instance", "xcom", "log", "task_instance_history", "job", "dag_version")


@pytest.fixture(scope="module")
def template_db(pg, migrated_metadb, tmp_path_factory) -> str:
    """Name of a migrated, filled metadata DB that tests copy (never clean it directly)."""
    name = f"dbclean_tpl_{uuid.uuid4().hex[:8]}"
    fill = [str(HERE / "dbclean_fill.py"), "--dags", "3", "--runs", "40", "--days", "120"]
    migrated_metadata_db(
        pg, name, tmp_path_factory.mktemp("airflow-home"), fill, timeout=300, template=migrated_metadb
    )
    yield name
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def metadb(pg, template_db) -> str:
    """DSN of a fresh copy of the filled metadata DB."""
    name = f"dbclean_{uuid.uuid4().hex[:8]}"
    pg.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield pg.dsn(name)
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _scalar(dsn: str, sql: str, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchone()[0]


def _counts(dsn: str) -> dict[str, int]:
    return {t: _scalar(dsn, f"SELECT count(*) FROM {t}") for t in COUNTED_TABLES}


def _expected(dsn: str, cutoff: datetime) -> dict[str, int]:
    """What a cleanup with this cutoff must remove, computed without core's code."""
    return {
        "log": _scalar(dsn, "SELECT count(*) FROM log WHERE dttm < %s", cutoff),
        "xcom": _scalar(dsn, "SELECT count(*) FROM xcom WHERE timestamp < %s", cutoff),
        "task_instance": _scalar(dsn, "SELECT count(*) FROM task_instance WHERE start_date < %s", cutoff),
        # Old runs, except each DAG's newest non-manual run, which core always keeps.
        "dag_run": _scalar(
            dsn,
            """SELECT count(*) FROM dag_run r WHERE r.start_date < %s AND r.start_date <> (
                   SELECT max(start_date) FROM dag_run k
                   WHERE k.dag_id = r.dag_id AND k.run_type <> 'manual')""",
            cutoff,
        ),
        # Never-started task instances of the runs that go: only a foreign-key cascade removes them.
        "cascaded_task_instance": _scalar(
            dsn,
            """SELECT count(*) FROM task_instance ti JOIN dag_run r USING (dag_id, run_id)
               WHERE ti.start_date IS NULL AND r.start_date < %s AND r.start_date <> (
                   SELECT max(start_date) FROM dag_run k
                   WHERE k.dag_id = r.dag_id AND k.run_type <> 'manual')""",
            cutoff,
        ),
    }


def _options(**overrides) -> CleanupOptions:
    base = {
        "retention_days": RETENTION_DAYS,
        "batch_size": 40,
        "archive": ArchiveMode.SKIP,
        "now": datetime.now(UTC),
    }
    return CleanupOptions(**{**base, **overrides})


@pytest.mark.matrix  # core's db_cleanup internals of this minor
def test_clean_purges_old_rows_keeps_last_scheduled_run_and_reports_exact_counts(metadb):
    options = _options()
    cutoff = options.clean_before
    expected = _expected(metadb, cutoff)
    before = _counts(metadb)
    assert min(expected.values()) > 0, f"the fill must give every table old rows: {expected}"
    lines: list[str] = []

    summary = clean_metadb(options, url=url_from_dsn(metadb), output=lines.append)

    after = _counts(metadb)
    tables = summary["tables"]
    for table in ("log", "xcom", "task_instance", "dag_run"):
        assert tables[table]["status"] == "ok"
        assert tables[table]["matched"] == tables[table]["deleted"] == expected[table], table
    assert summary["rows_cascaded"] == {"task_instance": expected["cascaded_task_instance"]}
    # Every row that disappeared is accounted for, and nothing else disappeared.
    assert before["log"] - after["log"] == expected["log"]
    assert before["xcom"] - after["xcom"] == expected["xcom"]
    assert before["dag_run"] - after["dag_run"] == expected["dag_run"]
    assert before["task_instance"] - after["task_instance"] == (
        expected["task_instance"] + expected["cascaded_task_instance"]
    )
    assert after["dag_version"] == before["dag_version"], "dag_version is not in the default (safe) set"
    assert summary["rows_deleted"] == sum(expected[t] for t in ("log", "xcom", "task_instance", "dag_run"))

    # Nothing older than the cutoff is left, except each DAG's last scheduled run.
    assert _scalar(metadb, "SELECT count(*) FROM log WHERE dttm < %s", cutoff) == 0
    assert _scalar(metadb, "SELECT count(*) FROM xcom WHERE timestamp < %s", cutoff) == 0
    with psycopg.connect(metadb) as conn:
        old_runs = conn.execute(
            "SELECT dag_id, run_type, start_date FROM dag_run WHERE start_date < %s", (cutoff,)
        ).fetchall()
        newest = dict(
            conn.execute(
                "SELECT dag_id, max(start_date) FROM dag_run WHERE run_type <> 'manual' GROUP BY dag_id"
            ).fetchall()
        )
    # fill_dag_2 is the stale DAG: all its runs are old, its newest scheduled one survives and its
    # even newer manual run does not (core never keeps manual runs).
    assert [(dag_id, run_type) for dag_id, run_type, _ in old_runs] == [("fill_dag_2", "scheduled")]
    assert old_runs[0][2] == newest["fill_dag_2"]
    assert summary["db_size_before"] > 0 and summary["db_size_after"] > 0
    assert summary["archive_tables_in_db"] == 0, "--skip-archive leaves no archive tables"
    assert any("Checking table log" in line for line in lines)


@pytest.mark.matrix  # core's db_cleanup internals of this minor
def test_dry_run_changes_nothing_and_reports_the_counts_the_real_run_deletes(metadb):
    now = datetime.now(UTC)
    before = _counts(metadb)

    dry = clean_metadb(_options(dry_run=True, now=now), url=url_from_dsn(metadb), output=lambda _: None)

    assert _counts(metadb) == before
    assert (
        _scalar(metadb, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_airflow\\_deleted\\_\\_%%'")
        == 0
    )
    assert dry["rows_deleted"] == 0 and dry["rows_matched"] > 0

    real = clean_metadb(
        _options(now=now, archive=ArchiveMode.KEEP), url=url_from_dsn(metadb), output=lambda _: None
    )

    for table, entry in real["tables"].items():
        assert dry["tables"][table]["matched"] == entry["matched"] == entry["deleted"] or (
            entry["status"] == "missing"
        ), table
    # keep: core's archive tables stay in the DB and hold exactly the deleted rows.
    archived = _scalar(
        metadb,
        """SELECT coalesce(sum((xpath('/row/c/text()', query_to_xml(
               format('select count(*) as c from %%I', tablename), false, true, '')))[1]::text::int), 0)
           FROM pg_tables WHERE tablename LIKE '\\_airflow\\_deleted\\_\\_%%'""",
    )
    assert archived == real["rows_deleted"] > 0
    assert real["archive_tables_created"] == real["archive_tables_in_db"] > 0


@pytest.mark.matrix  # core's DAG filter, new in 3.2
@pytest.mark.skipif(not AIRFLOW_V_3_2_PLUS, reason="core's cleanup has no DAG filter before Airflow 3.2")
def test_dag_filter_only_touches_the_selected_dag(metadb):
    options = _options(dag_ids=("fill_dag_0",))
    others = _scalar(metadb, "SELECT count(*) FROM log WHERE dag_id <> 'fill_dag_0'")

    summary = clean_metadb(options, url=url_from_dsn(metadb), output=lambda _: None)

    # Tables the filter cannot reach are skipped, never purged for every DAG (3.3.2 would even fail
    # on asset_event, deadline and task_reschedule, which it filters on a dag_id they lack).
    assert {"import_error", "asset_event", "deadline", "task_reschedule"} <= set(summary["skipped_tables"])
    assert summary["tables"]["log"]["deleted"] > 0
    assert _scalar(metadb, "SELECT count(*) FROM log WHERE dag_id <> 'fill_dag_0'") == others
    assert (
        _scalar(
            metadb, "SELECT count(*) FROM log WHERE dag_id = 'fill_dag_0' AND dttm < %s", options.clean_before
        )
        == 0
    )


@pytest.mark.matrix  # where core has no DAG filter, asking for one is refused
@pytest.mark.skipif(AIRFLOW_V_3_2_PLUS, reason="core's cleanup filters by DAG from Airflow 3.2")
def test_dag_filter_is_refused_in_one_line_and_deletes_nothing_where_core_has_none(metadb):
    counts = {table: _scalar(metadb, f"SELECT count(*) FROM {table}") for table in COUNTED_TABLES}

    with pytest.raises(AirflowCompatError) as refused:
        clean_metadb(_options(dag_ids=("fill_dag_0",)), url=url_from_dsn(metadb), output=lambda _: None)

    message = str(refused.value)
    assert "\n" not in message and "3.2" in message and "dag_ids" in message, message
    assert {table: _scalar(metadb, f"SELECT count(*) FROM {table}") for table in COUNTED_TABLES} == counts


@pytest.mark.matrix  # core's archive tables of this minor
def test_export_and_drop_uploads_verified_csvs_then_drops_the_archive_tables(metadb, s3_bucket, monkeypatch):
    # The storage layer reads the S3 endpoint and keys from the aws_default connection.
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": os.environ["AWS_ENDPOINT_URL"]},
            }
        ),
    )
    options = _options(archive=ArchiveMode.EXPORT_AND_DROP, export_url=f"s3://{s3_bucket}/archives")
    expected = _expected(metadb, options.clean_before)

    summary = clean_metadb(options, url=url_from_dsn(metadb), output=lambda _: None)

    export = summary["archive_export"]
    assert export["files"]["log.csv"]["rows"] == expected["log"]
    assert export["files"]["dag_run.csv"]["rows"] == expected["dag_run"]
    assert (
        _scalar(metadb, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_airflow\\_deleted\\_\\_%%'")
        == 0
    )
    assert len(export["dropped"]) == summary["archive_tables_created"]
    assert summary["archive_tables_in_db"] == 0

    import boto3

    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=s3_bucket, Key=export["files"]["log.csv"]["url"].split("/", 3)[3])[
        "Body"
    ].read()
    lines = body.decode().splitlines()
    assert lines[0].startswith("id,") and "dttm" in lines[0]
    assert len(lines) - 1 == expected["log"]  # one header, one line per row, batches merged
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="archives/")["Contents"]]
    assert any(k.endswith("manifest.json") for k in keys)


def test_unusable_archive_destination_refuses_before_deleting_anything(metadb, s3_bucket, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps({"conn_type": "aws", "extra": {"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}}),
    )
    before = _counts(metadb)
    options = _options(archive=ArchiveMode.EXPORT_AND_DROP, export_url="s3://no-such-bucket-here/archives")

    with pytest.raises(DbCleanupError) as excinfo:
        clean_metadb(options, url=url_from_dsn(metadb), output=lambda _: None)

    message = str(excinfo.value)
    assert message.startswith("archive destination s3://no-such-bucket-here/archives is not usable")
    assert "nothing was deleted" in message and "\n" not in message
    assert _counts(metadb) == before


def test_locked_table_fails_the_run_naming_the_table_and_cause(pg, metadb):
    """A real lock held on ``log`` plus a lock_timeout: core would exit 0 on this; we must not."""
    database = metadb.rsplit("/", 1)[1]
    pg.psql(f"ALTER DATABASE \"{database}\" SET lock_timeout = '1s'")
    old_log = _scalar(metadb, "SELECT count(*) FROM log WHERE dttm < now() - interval '30 days'")
    locked = threading.Event()
    release = threading.Event()

    def hold_lock():
        with psycopg.connect(metadb) as conn:
            # EXCLUSIVE lets the cleanup read and archive ``log`` but not delete from it, like a
            # long maintenance job would.
            conn.execute("LOCK TABLE log IN EXCLUSIVE MODE")
            locked.set()
            release.wait(120)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(30)
        proc = subprocess.run(
            [
                str(Path(sys.executable).with_name("platform-kit")),
                "db",
                "clean",
                "--retention-days",
                str(RETENTION_DAYS),
                "--archive",
                "skip",
                "--batch-size",
                "40",
                "--json",
            ],
            env={**os.environ, "PLATFORM_KIT_METADB_DSN": metadb},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        release.set()
        holder.join()

    assert proc.returncode == 2, proc.stderr[-3000:]
    error = [line for line in proc.stderr.splitlines() if line.startswith("platform-kit: error:")]
    assert len(error) == 1, proc.stderr[-2000:]
    assert "failed on 1 table(s) [log: canceling statement due to lock timeout" in error[0]
    summary = json.loads(proc.stdout)
    assert summary["failed_tables"] == ["log"]
    assert summary["tables"]["xcom"]["status"] == "ok" and summary["tables"]["xcom"]["deleted"] > 0
    assert _scalar(metadb, "SELECT count(*) FROM log WHERE dttm < now() - interval '30 days'") == old_log
    assert pg.password not in proc.stdout + proc.stderr


def test_bad_password_fails_in_one_line_without_printing_it(pg, metadb):
    wrong = metadb.replace(f":{pg.password}@", ":not-the-password-1234@")
    seen: list[str] = []
    with pytest.raises(DbCleanupError) as excinfo:
        clean_metadb(_options(dry_run=True), url=url_from_dsn(wrong), output=seen.append)
    message = str(excinfo.value)
    assert "\n" not in message and "password authentication failed" in message
    assert "not-the-password-1234" not in message + "".join(seen)


@pytest.mark.matrix  # the Connection model of this minor
def test_cli_finds_a_connection_stored_in_the_metadata_db_as_backup_create_does(metadb, tmp_path):
    """On an Airflow host, ``--conn-id`` names a connection created with ``airflow connections add``.

    It used to be looked up with the Task SDK only (env vars and secrets backends), so ``db clean`` said
    "not found" where ``backup create`` found the same connection.
    """
    env = airflow_cli_env(metadb, tmp_path / "home")
    subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "add", "airflow_metadb", "--conn-uri", metadb],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("platform-kit")), "db", "clean", "--dry-run", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["dry_run"] is True and summary["rows_matched"] > 0


def test_cli_from_a_plain_shell_takes_the_password_from_pgpassword(pg, metadb, tmp_path):
    """``PGPASSWORD=... platform-kit db clean --dsn postgresql://user@host/db``: no password in the DSN
    (``ps`` would show it), no Airflow configuration in the shell, nothing left behind."""
    shell = plain_shell(tmp_path)
    database = metadb.rsplit("/", 1)[1]
    proc = shell.run(
        "db",
        "clean",
        "--dry-run",
        "--json",
        "--retention-days",
        str(RETENTION_DAYS),
        "--dsn",
        f"postgresql://{pg.user}@{pg.host}:{pg.port}/{database}",
        env={"PGPASSWORD": pg.password},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["dry_run"] is True and summary["rows_matched"] > 0 and summary["rows_deleted"] == 0
    assert pg.password not in proc.stdout + proc.stderr
    shell.assert_no_side_effects()


# --- a database it cannot recognise, and stdout that carries only JSON (issue 15) ------------------------


def _db_clean(
    tmp_path, dsn: str, *args: str, env: dict | None = None, verbose: bool = False
) -> subprocess.CompletedProcess:
    """``platform-kit db clean`` from a plain shell that names the database the documented way."""
    argv = (["--verbose"] if verbose else []) + ["db", "clean", *args]
    return plain_shell(tmp_path).run(*argv, env={"PLATFORM_KIT_METADB_DSN": dsn, **(env or {})})


def test_a_database_that_is_not_airflows_is_refused_naming_it(pg, pg_database, tmp_path):
    """A wrong database name used to run green forever: every table "missing, 0 rows", exit 0."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE log (id int, dttm timestamptz);"
            " INSERT INTO log VALUES (1, now() - interval '1 year')"
        )
    name = pg_database.rsplit("/", 1)[1]
    proc = _db_clean(tmp_path, pg_database, "--retention-days", "30", "--json")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("platform-kit: error:")]
    assert (
        len(errors) == 1
        and f"database '{name}' on 127.0.0.1:{pg.port} is not an Airflow metadata DB" in errors[0]
    )
    assert json.loads(proc.stdout)["error"] == errors[0].removeprefix("platform-kit: error: ")
    assert _scalar(pg_database, "SELECT count(*) FROM log") == 1


def test_an_alembic_revision_this_airflow_does_not_know_is_refused(metadb, tmp_path):
    """A metadata DB migrated by another (newer) Airflow: its tables may not be the ones core expects."""
    with psycopg.connect(metadb, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    before = _counts(metadb)
    proc = _db_clean(tmp_path, metadb, "--retention-days", "30")
    assert proc.returncode == 2
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("platform-kit: error:")]
    assert (
        "is at alembic revision ffffffffffff, which Airflow 3." in line and metadb.rsplit("/", 1)[1] in line
    )
    assert _counts(metadb) == before


def test_json_mode_prints_only_json_on_stdout(metadb, s3_bucket, tmp_path):
    """With an S3 archive destination the AWS provider logs at INFO (shown with --verbose), and Airflow
    logs to stdout: those lines used to come before the JSON document."""
    aws = json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": os.environ["AWS_ENDPOINT_URL"]},
        }
    )
    archive = ["--archive", "export_and_drop", "--export-url", f"s3://{s3_bucket}/archives"]
    proc = _db_clean(
        tmp_path,
        metadb,
        "--retention-days",
        str(RETENTION_DAYS),
        *archive,
        "--json",
        env={"AIRFLOW_CONN_AWS_DEFAULT": aws},
        verbose=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # the whole of stdout, nothing before or after
    assert summary["rows_deleted"] > 0 and summary["archive_export"]["files"]
    assert "credentials retrieved" in proc.stderr  # the provider's log line went to stderr

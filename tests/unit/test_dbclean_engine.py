"""Unit tests for the DB cleanup's pure parts: table catalogue vs core, URLs and redaction, archives."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from types import SimpleNamespace

import pytest

from platform_kit.cli import build_parser
from platform_kit.dbclean import (
    ALL_TABLES,
    CUTOFF_COLUMNS,
    SAFE_TABLES,
    UNSAFE_TABLES,
    ArchiveMode,
    CleanupOptions,
    sqlalchemy_url,
    url_from_connection,
    url_from_dsn,
)
from platform_kit.dbclean.archives import merge_archive_csvs
from platform_kit.dbclean.launcher import ChildLauncher
from platform_kit.dbclean.tasks import archive_url_next_to, options_from_params
from platform_kit.dburl import secrets_of
from platform_kit.exceptions import AirflowCompatError
from platform_kit.version_compat import AIRFLOW_V_3_2_PLUS

pytestmark = pytest.mark.unit


def test_table_catalogue_matches_core():
    """Our copy of core's table list (kept so DAG parsing needs no DB) must not drift from core."""
    code = (
        "import json; from airflow.utils import db_cleanup as c;"
        "print(json.dumps({t.table_name: t.recency_column_name for t in c.config_list}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import json

    core = json.loads(out.strip().splitlines()[-1])
    core.setdefault("session", "expiry")  # only registered with FAB's database session backend
    assert core == CUTOFF_COLUMNS


def test_safe_set_leaves_out_dag_dag_version_and_trigger_and_pulls_in_nothing_unsafe():
    assert set(UNSAFE_TABLES) == {"dag", "dag_version", "trigger"}
    assert set(SAFE_TABLES) == set(ALL_TABLES) - set(UNSAFE_TABLES)
    from airflow.utils.db_cleanup import _effective_table_names

    effective, _ = _effective_table_names(table_names=[t for t in SAFE_TABLES if t != "session"])
    assert not set(effective) & set(UNSAFE_TABLES)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"retention_days": 0}, "retention_days must be at least 1"),
        ({"batch_size": -5}, "batch_size must be a positive"),
        ({"tables": ("log", "nope")}, "unknown table(s) ['nope']"),
        ({"dag_ids": ("a",), "exclude_dag_ids": ("a",)}, "both included and excluded: ['a']"),
        ({"archive": "export_and_drop"}, "needs an export URL"),
        ({"archive": "shred"}, "'shred' is not a valid ArchiveMode"),
    ],
)
def test_bad_options_are_refused_in_one_line(changes, message):
    with pytest.raises(ValueError) as excinfo:
        CleanupOptions(**changes).validated()
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_empty_tables_mean_the_safe_set():
    assert CleanupOptions().validated().tables == SAFE_TABLES


def test_url_quotes_credentials_and_keeps_libpq_options():
    url = sqlalchemy_url(
        host="db",
        login="air flow",
        password="p@ss:w/rd%",
        schema="airflow",
        extra={"sslmode": "require", "unrelated": "x", "options": "-c lock_timeout=5s"},
    )
    assert url == (
        "postgresql+psycopg2://air%20flow:p%40ss%3Aw%2Frd%25@db:5432/airflow"
        "?options=-c%20lock_timeout%3D5s&sslmode=require"
    )
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    assert (parsed.username, parsed.password, parsed.query["options"]) == (
        "air flow",
        "p@ss:w/rd%",
        "-c lock_timeout=5s",
    )


def test_url_from_connection_and_dsn():
    conn = SimpleNamespace(
        conn_id="airflow_metadb",
        conn_type="postgres",
        host="postgres",
        port=5432,
        login="airflow",
        password="secret",
        schema="airflow",
        extra_dejson={},
    )
    assert url_from_connection(conn) == "postgresql+psycopg2://airflow:secret@postgres:5432/airflow"
    with pytest.raises(ValueError, match="expected postgres"):
        url_from_connection(SimpleNamespace(**{**vars(conn), "conn_type": "mysql"}))
    assert url_from_dsn("postgres://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"
    assert url_from_dsn("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"


def test_child_output_and_results_are_scrubbed_of_url_and_password():
    url = sqlalchemy_url(host="h", login="u", password="s3cr:et", schema="db")
    driver = ChildLauncher(url, output=lambda _: None)
    assert "s3cr" not in driver.redact(f"conn {url} pw s3cr:et enc s3cr%3Aet")
    assert set(secrets_of(url)) == {url, "s3cr:et", "s3cr%3Aet"}
    result = {"error": f"bad {url}", "tables": {"log": {"error": "pw s3cr:et"}}, "path": "/tmp/s3cr:et/x"}
    scrubbed = driver._scrub_errors(result)
    assert scrubbed["error"] == "bad ***" and scrubbed["tables"]["log"]["error"] == "pw ***"
    # Names and paths are ours or core's; a short password must not mangle them.
    assert scrubbed["path"] == "/tmp/s3cr:et/x"
    env = driver.environment()
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == url
    assert "AIRFLOW__CORE__SQL_ALCHEMY_CONN" not in env


def test_merge_joins_batches_per_table_in_batch_order_with_one_header(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    files = {}
    for batch in (1, 2, 10):
        name = f"_airflow_deleted__log__20260101000000__b{batch}"
        path = raw / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "event"])
            writer.writerow([batch, f"multi\nline {batch}"])
        files[name] = {"path": str(path), "rows": 1}
    other = raw / "_airflow_deleted__xcom__20260101000001.csv"
    other.write_text("id\r\n7\r\n")
    files[other.stem] = {"path": str(other), "rows": 1}
    out = tmp_path / "out"
    out.mkdir()

    merged = merge_archive_csvs(files, out)

    assert set(merged) == {"log.csv", "xcom.csv"}
    with open(merged["log.csv"]["path"], newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["id", "event"], ["1", "multi\nline 1"], ["2", "multi\nline 2"], ["10", "multi\nline 10"]]
    data = (out / "log.csv").read_bytes()
    assert merged["log.csv"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert merged["log.csv"]["rows"] == 3 and merged["log.csv"]["bytes"] == len(data)


def test_a_dag_filter_needs_airflow_3_2_and_is_refused_in_one_line_before():
    options = CleanupOptions(dag_ids=("a",))
    if AIRFLOW_V_3_2_PLUS:
        assert options.validated().dag_ids == ("a",)
        return
    with pytest.raises(AirflowCompatError) as excinfo:
        options.validated()
    message = str(excinfo.value)
    assert message.startswith("the DB cleanup's DAG filter (dag_ids / exclude_dag_ids) is not supported on ")
    assert "Airflow 3.2" in message and "\n" not in message


def test_params_map_onto_options_and_archives_go_next_to_backups():
    options = options_from_params(
        {
            "retention_days": 30,
            "tables": ["log"],
            "dag_ids": [],
            "exclude_dag_ids": ["x"] if AIRFLOW_V_3_2_PLUS else [],
            "batch_size": 500,
            "dry_run": True,
            "archive": "skip",
            "aws_conn_id": "aws_default",
            "google_conn_id": "",
        }
    ).validated()
    assert (options.retention_days, options.tables) == (30, ("log",))
    assert options.exclude_dag_ids == (("x",) if AIRFLOW_V_3_2_PLUS else ())
    assert options.archive is ArchiveMode.SKIP and options.dry_run and options.google_conn_id is None
    assert archive_url_next_to("s3://bkt/metadb") == "s3://bkt/db-clean-archives"
    assert archive_url_next_to("gs://bkt/a/metadb/") == "gs://bkt/a/db-clean-archives"
    assert archive_url_next_to("s3://bkt") == "s3://bkt/db-clean-archives"


def test_cli_parses_the_same_options_as_the_dag():
    args = build_parser().parse_args(
        [
            *("db", "clean", "--retention-days", "7", "--tables", "log,xcom", "--exclude-dag-ids", "a,b"),
            *("--batch-size", "0", "--dry-run", "--archive", "skip", "--dsn", "postgresql://u:p@h/db"),
        ]
    )
    assert (args.retention_days, args.tables, args.exclude_dag_ids) == (7, ["log", "xcom"], ["a", "b"])
    assert (args.batch_size, args.dry_run, args.archive, args.dsn) == (
        0,
        True,
        "skip",
        "postgresql://u:p@h/db",
    )
    assert args.handler.__name__ == "handle_clean"


def test_a_table_core_cleaned_without_the_wrappers_seeing_it_is_an_error_not_a_count():
    from platform_kit.dbclean.child import _Observer, _unobserved

    observer = _Observer(["log", "xcom", "celery_taskmeta"])
    observer.tables["log"].update(status="ok", matched=3)
    observer.tables["xcom"].update(status="ok", matched=None)  # cleaned, but never counted
    observer.tables["celery_taskmeta"]["status"] = "missing"  # not in this database: fine
    message = _unobserved(observer, existing={"log", "xcom"})
    assert message and "core cleaned xcom without the kit seeing the row counts" in message
    assert "\n" not in message and "airflow db clean" in message
    observer.tables["xcom"]["matched"] = 0
    assert _unobserved(observer, existing={"log", "xcom"}) is None


def test_the_wrappers_keep_the_signature_core_is_checked_against():
    import inspect

    from platform_kit.dbclean.child import _Observer
    from platform_kit.version_compat import db_cleanup_module

    core = db_cleanup_module()
    observer = _Observer(["log"])
    wrapped = observer.wrap_check_for_rows(core._check_for_rows)
    assert inspect.signature(wrapped) == inspect.signature(core._check_for_rows)
    wrapped = observer.wrap_cleanup_table(core._cleanup_table)
    assert "orm_model" in inspect.signature(wrapped).parameters

"""`platform-kit` from a plain shell, as the README tells a user to run it.

Every command runs in a fresh process whose environment holds only what a user's shell would: ``PATH``,
a temporary ``HOME`` (and ``TMPDIR``), and what the README says to set (``AIRFLOW_CONN_*``, ``PG*``). No
``AIRFLOW_HOME``: the CLI must work without Airflow's configuration and leave nothing behind. The database
is a real PostgreSQL that requires a password (scram-sha-256), the bucket moto's S3 server.

Expected failures must be one line on stderr, exit code 2, and no side effects: no ``~/airflow``, nothing
left in ``HOME`` or ``TMPDIR``, no object in the bucket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg
import pytest
from plain_shell import one_error_line, plain_shell
from storage_conns import aws_conn_json

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
UV = REPO / ".tools" / "bin" / "uv"
ROWS = 500
#: ``backup create`` from the front door, filled in per case.
CREATE = ["backup", "create", "--to", "s3://{bucket}/metadb", "--dsn", "{dsn}"]


@pytest.fixture
def shell(tmp_path):
    return plain_shell(tmp_path)


@dataclass
class Database:
    """A database owned by a role that logs in with a password; ``dsn`` has no password in it."""

    host: str
    port: int
    role: str
    password: str
    name: str

    def dsn(self, name: str | None = None) -> str:
        return f"postgresql://{self.role}@{self.host}:{self.port}/{name or self.name}"

    def with_password(self, name: str | None = None) -> str:
        return f"postgresql://{self.role}:{self.password}@{self.host}:{self.port}/{name or self.name}"

    def create_empty(self) -> str:
        name = f"scratch_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.with_password(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


@pytest.fixture(scope="module")
def source_db(pg) -> Database:
    """``orders`` with :data:`ROWS` rows, in a database of a CREATEDB role with a password."""
    role, password = f"kit_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    pg.create_database(f"{role}_db", owner=role, password=password)
    pg.psql(f'ALTER ROLE "{role}" CREATEDB')
    db = Database(pg.host, pg.port, role, password, f"{role}_db")
    with psycopg.connect(db.with_password()) as conn:
        conn.execute(f"CREATE TABLE orders AS SELECT generate_series(1, {ROWS}) AS id")
    return db


@pytest.fixture
def bucket(moto_server) -> str:
    from twin.services import create_s3_bucket

    name = f"front-door-{uuid.uuid4().hex[:8]}"
    create_s3_bucket(moto_server.url, name)
    return name


def _objects(moto_server, bucket: str) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]


def test_pgpassword_reaches_pg_dump_and_pg_restore(shell, source_db, moto_server, bucket):
    """The README's example: the password in PGPASSWORD, none in the DSN, for create and restore."""
    env = {"AIRFLOW_CONN_AWS_DEFAULT": aws_conn_json(moto_server.url), "PGPASSWORD": source_db.password}
    created = shell.run(
        "backup", "create", "--to", f"s3://{bucket}/metadb", "--dsn", source_db.dsn(), "--json", env=env
    )
    assert created.returncode == 0, created.stderr[-3000:]
    result = json.loads(created.stdout)
    assert result["verification"]["ok"] is True  # verified by pg_restore --list, with the same environment
    # Without Airflow's configuration the CLI cannot know the Fernet key; it says so instead of "EMPTY".
    assert "not known here" in json.dumps(result["fernet_key"])
    assert "EMPTY" not in created.stdout + created.stderr
    manifest_key = next(k for k in _objects(moto_server, bucket) if k.endswith("manifest.json"))
    set_url = f"s3://{bucket}/{manifest_key.rsplit('/', 1)[0]}"

    target = source_db.create_empty()
    restored = shell.run(
        "backup", "restore", set_url, "--target-dsn", source_db.dsn(target), "--json", env=env
    )
    assert restored.returncode == 0, restored.stderr[-3000:]
    assert json.loads(restored.stdout)["mismatches"] == {}
    assert _count(source_db.with_password(target)) == ROWS
    for output in (created.stdout, created.stderr, restored.stdout, restored.stderr):
        assert source_db.password not in output
    shell.assert_no_side_effects()


def test_pgpassfile_reaches_the_restore_test(shell, source_db, moto_server, bucket, tmp_path):
    """``backup verify --restore-test-dsn`` with the password only in a libpq password file."""
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"{source_db.host}:{source_db.port}:*:{source_db.role}:{source_db.password}\n")
    passfile.chmod(0o600)
    env = {"AIRFLOW_CONN_AWS_DEFAULT": aws_conn_json(moto_server.url), "PGPASSFILE": str(passfile)}
    created = shell.run(
        "backup", "create", "--to", f"s3://{bucket}/metadb", "--dsn", source_db.dsn(), env=env
    )
    assert created.returncode == 0, created.stderr[-3000:]
    verified = shell.run(
        "backup",
        "verify",
        f"s3://{bucket}/metadb",
        "--restore-test-dsn",
        source_db.dsn(),
        "--json",
        env=env,
    )
    assert verified.returncode == 0, verified.stderr[-3000:]
    restore_test = json.loads(verified.stdout)["restore_test"]
    assert restore_test["mismatches"] == {} and restore_test["rows"] == ROWS
    shell.assert_no_side_effects()


@pytest.mark.parametrize(
    ("case", "argv", "expected"),
    [
        pytest.param(
            "no AWS credentials",
            ["backup", "list", "s3://{bucket}/metadb"],
            "no AWS credentials for s3://{bucket}: define the aws connection 'aws_default' "
            "(e.g. AIRFLOW_CONN_AWS_DEFAULT",
            id="missing-credentials",
        ),
        pytest.param(
            "unreachable endpoint",
            CREATE,
            "cannot reach the S3 endpoint http://127.0.0.1:{closed_port} for s3://{bucket}",
            id="unreachable-endpoint",
        ),
        pytest.param(
            "",
            [*CREATE[:3], "s3://no-such-bucket-{bucket}/metadb", *CREATE[4:]],
            "S3 bucket 'no-such-bucket-{bucket}' does not exist; create it or fix the URL",
            id="missing-bucket",
        ),
        pytest.param(
            "",
            [*CREATE[:5], "host=127.0.0.1 port"],
            "could not parse the DSN; use postgresql://user:password@host:port/dbname",
            id="unparseable-dsn",
        ),
        pytest.param(
            "",
            ["db", "clean", "--dry-run", "--dsn", "mysql://airflow@127.0.0.1/airflow"],
            "the DSN must be a PostgreSQL URL",
            id="db-clean-not-postgres",
        ),
        pytest.param(
            "no password",
            CREATE,
            "no password supplied); check the host, port, user and password",
            id="no-password",
        ),
        pytest.param(
            "ssl required",
            CREATE,
            "SSL",
            id="pgsslmode-from-the-shell",
        ),
        pytest.param(
            "",
            ["backup", "restore", "s3://{bucket}/metadb", "--target-dsn", "{dsn}"],
            "no verified backup under s3://{bucket}/metadb",
            id="restore-nothing-there",
        ),
    ],
)
def test_expected_failures_are_one_line_with_no_side_effects(
    case, argv, expected, shell, source_db, moto_server, bucket
):
    from twin.pgcluster import free_port

    closed_port = free_port()
    env = {"AIRFLOW_CONN_AWS_DEFAULT": aws_conn_json(moto_server.url), "PGPASSWORD": source_db.password}
    if case == "no AWS credentials":
        del env["AIRFLOW_CONN_AWS_DEFAULT"]
    elif case == "unreachable endpoint":
        env["AIRFLOW_CONN_AWS_DEFAULT"] = aws_conn_json(f"http://127.0.0.1:{closed_port}")
    elif case == "no password":
        del env["PGPASSWORD"]
    elif case == "ssl required":
        env["PGSSLMODE"] = "require"  # the test server has no SSL: libpq must refuse, as the shell asked
    values = {"bucket": bucket, "dsn": source_db.dsn(), "closed_port": closed_port}
    result = shell.run(*(arg.format(**values) for arg in argv), env=env)
    assert expected.format(**values) in one_error_line(result)
    assert source_db.password not in result.stderr + result.stdout
    assert _objects(moto_server, bucket) == []
    shell.assert_no_side_effects()


@pytest.fixture(scope="module")
def amazon_only_bin(tmp_path_factory) -> Path:
    """The bin folder of a fresh venv with the kit and only its [amazon] extra (the locked versions)."""
    work = tmp_path_factory.mktemp("amazon-only")
    requirements = subprocess.run(
        [str(UV), "export", "--frozen", "--no-hashes", "--extra", "amazon", "--no-emit-project", "--no-dev"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (work / "requirements.txt").write_text(requirements)
    venv = work / "venv"
    subprocess.run([str(UV), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(work / "requirements.txt"),
            f"{REPO}[amazon]",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "UV_NO_PROGRESS": "1"},
    )
    return venv / "bin"


def test_a_missing_extra_names_the_pip_install(amazon_only_bin, tmp_path, source_db, moto_server, bucket):
    shell = plain_shell(tmp_path, amazon_only_bin)
    env = {"PGPASSWORD": source_db.password, "AIRFLOW_CONN_AWS_DEFAULT": aws_conn_json(moto_server.url)}
    result = shell.run(
        "backup", "create", "--to", "gs://platform-kit-backups/x", "--dsn", source_db.dsn(), env=env
    )
    line = one_error_line(result)
    assert "gs:// URLs need the google extra" in line
    assert "pip install 'airflow-platform-kit[google]'" in line
    # The same installation works for what it was installed for.
    works = shell.run("backup", "create", "--to", f"s3://{bucket}/metadb", "--dsn", source_db.dsn(), env=env)
    assert works.returncode == 0, works.stderr[-3000:]
    shell.assert_no_side_effects()

"""One-off set-up of the compose sandbox, run by the ``airflow-init`` service after the DB migration.

Creates the REST API service account (from the ``airflow_api`` connection in sandbox/airflow.env), on the S3
emulator (through ``aws_default``) the backup bucket and the remote log bucket (``[logging]
remote_base_log_folder``), and the scratch database of the ``platform_kit_scratch`` connection: a role with
CREATEDB that owns an empty database, where a backup's restore test and ``platform-kit backup restore`` can
be tried. Safe to run again: every step is idempotent. The Docker-free twin (scripts/sandbox) calls
:func:`create_scratch_database` too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def create_service_account() -> None:
    account = json.loads(os.environ["AIRFLOW_CONN_AIRFLOW_API"])
    result = subprocess.run(
        [
            "airflow",
            "users",
            "create",
            "--username",
            account["login"],
            "--password",
            account["password"],
            "--role",
            "Admin",
            "--firstname",
            "platform-kit",
            "--lastname",
            "service-account",
            "--email",
            "platform-kit-api@example.invalid",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 and "already exist" not in (result.stdout + result.stderr):
        sys.exit(f"could not create the API service account: {result.stderr.strip()[-500:]}")
    print(f"API service account {account['login']!r} ready")


def create_buckets() -> None:
    import boto3

    aws = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    urls = (
        os.environ["AIRFLOW_VAR_PLATFORM_KIT_BACKUP_URL"],
        os.environ["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"],
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=aws["extra"]["endpoint_url"],
        region_name=aws["extra"]["region_name"],
        aws_access_key_id=aws["login"],
        aws_secret_access_key=aws["password"],
    )
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in dict.fromkeys(url.removeprefix("s3://").split("/", 1)[0] for url in urls):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
        print(f"S3 bucket {bucket!r} ready")


def create_scratch_database(admin: dict, scratch: dict) -> None:
    """Create the scratch role (LOGIN, CREATEDB) and its own empty database, unless they exist.

    :param admin: connection fields (``host``, ``port``, ``login``, ``password``, ``schema``) of a role
        that may create roles and databases.
    :param scratch: the scratch connection's fields: ``login``/``password`` name the role, ``schema`` the
        database.
    """
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(
        host=admin["host"],
        port=admin.get("port", 5432),
        user=admin["login"],
        password=admin["password"],
        dbname=admin["schema"],
    )
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            role, database = scratch["login"], scratch["schema"]
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD %s").format(sql.Identifier(role)),
                    (scratch["password"],),
                )
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(role)
                    )
                )
    finally:
        conn.close()
    print(f"scratch database {database!r} (role {role!r}, CREATEDB) ready")


if __name__ == "__main__":
    create_service_account()
    create_buckets()
    # In compose the metadata DB's role is the PostgreSQL superuser, so it can create the scratch role.
    create_scratch_database(
        json.loads(os.environ["AIRFLOW_CONN_AIRFLOW_METADB"]),
        json.loads(os.environ["AIRFLOW_CONN_PLATFORM_KIT_SCRATCH"]),
    )

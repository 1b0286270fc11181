"""One-off set-up of the compose sandbox, run by the ``airflow-init`` service after the DB migration.

Creates the REST API service account (from the ``airflow_api`` connection in sandbox/airflow.env) and the
backup bucket on the S3 emulator (from ``aws_default``). Safe to run again: both steps are idempotent.
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


def create_backup_bucket() -> None:
    import boto3

    aws = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    bucket = os.environ["AIRFLOW_VAR_PLATFORM_KIT_BACKUP_URL"].removeprefix("s3://").split("/", 1)[0]
    s3 = boto3.client(
        "s3",
        endpoint_url=aws["extra"]["endpoint_url"],
        region_name=aws["extra"]["region_name"],
        aws_access_key_id=aws["login"],
        aws_secret_access_key=aws["password"],
    )
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    print(f"S3 bucket {bucket!r} ready")


if __name__ == "__main__":
    create_service_account()
    create_backup_bucket()

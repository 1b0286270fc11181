"""Remote logging in the twin: the log bucket on the S3 emulator, and reading task logs back from it.

``sandbox/airflow.env`` turns remote logging on for compose and the twin alike (task logs go to
``[logging] remote_base_log_folder`` on the S3 emulator and the local copies are removed). The twin only
has to create that bucket; e2e tests and the failure artifacts read the logs from it.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from urllib.parse import urlsplit

from twin import sandbox_env
from twin.services import create_s3_bucket

FOLDER_SETTING = "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"


def log_folder(env: dict[str, str] | None = None) -> tuple[str, str]:
    """``(bucket, prefix)`` of the remote log folder the sandbox configures."""
    parts = urlsplit((env or sandbox_env.load())[FOLDER_SETTING])
    return parts.netloc, parts.path.strip("/")


def folder_url() -> str:
    """The remote log folder, ``s3://bucket/prefix``."""
    return sandbox_env.load()[FOLDER_SETTING]


def create_log_bucket(s3_endpoint: str) -> None:
    """Create the remote log bucket on the twin's S3 server."""
    bucket, _ = log_folder()
    create_s3_bucket(s3_endpoint, bucket)


def task_log_key(dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
    """The object key of one try's log, in Airflow 3's default ``log_filename_template``."""
    _, prefix = log_folder()
    mapped = f"map_index={map_index}/" if map_index >= 0 else ""
    return f"{prefix}/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/{mapped}attempt={try_number}.log"


def wait_for_remote_logs(twin, dag_id: str, run_id: str, timeout: float = 120) -> dict[str, str]:
    """Every finished try's log of a run, read from the bucket once each is uploaded: ``{key: text}``.

    A task's state is final a moment before its supervisor uploads the log, so this polls.
    """
    bucket, _ = log_folder()
    s3 = twin.s3_client()
    wanted = [
        task_log_key(dag_id, run_id, ti["task_id"], try_number, ti.get("map_index", -1))
        for ti in twin.task_instances(dag_id, run_id)
        for try_number in range(1, (ti.get("try_number") or 0) + 1)
        if ti["state"] not in (None, "skipped", "upstream_failed", "removed")
    ]
    deadline = time.monotonic() + timeout
    while True:
        found = {}
        for key in wanted:
            with contextlib.suppress(s3.exceptions.NoSuchKey):
                found[key] = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
        if len(found) == len(wanted) or time.monotonic() > deadline:
            missing = sorted(set(wanted) - set(found))
            if missing:
                raise TimeoutError(f"task logs not in s3://{bucket} after {timeout:.0f}s: {missing}")
            return found
        time.sleep(1)


def download_remote_logs(twin, target: Path) -> int:
    """Copy every object of the remote log folder under ``target`` (failure artifacts); returns the count."""
    bucket, prefix = log_folder()
    s3 = twin.s3_client()
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) + 1 :]
            path = (target / relative).resolve()
            if target.resolve() not in path.parents:
                continue  # never write outside the artifacts folder
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(path))
            count += 1
    return count

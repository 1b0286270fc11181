"""SIGTERM is how Airflow stops a task: the backup's cleanup runs there exactly as in the shell.

An operator marks a running dump task failed; the supervisor notices on its next heartbeat and sends
SIGTERM (then SIGKILL 5 s later). The Task SDK's own handler only calls ``on_kill``; the kit's
``task_failures`` turns the signal into an unwinding that stops pg_dump and aborts the multipart upload.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from twin.client import REQUEST_TIMEOUT

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_stopped_backup"
BUCKET = "platform-kit-backups"


def _when(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.5)


def test_a_dump_task_marked_failed_aborts_its_upload_and_stops_pg_dump(twin, tmp_path):
    # pg_dump that dumps, adds 12 MiB (so a first 8 MiB part is uploaded), then hangs like a stuck dump.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "pg_dump"
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then exec pg_dump --version; fi\n'
        'pg_dump "$@" || exit $?\n'
        "head -c 12582912 /dev/urandom\n"
        f"echo $$ > {bin_dir}/hanging.pid\n"
        "exec sleep 600\n"
    )
    wrapper.chmod(0o755)
    bin_dir.chmod(0o755)
    prefix = f"e2e-stopped-{uuid.uuid4().hex[:8]}"
    s3 = twin.s3_client()

    def open_uploads() -> list[str]:
        listing = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
        return [upload["Key"] for upload in listing.get("Uploads", [])]

    run_id = twin.trigger(DAG_ID, conf={"destination": f"s3://{BUCKET}/{prefix}", "pg_bin_dir": str(bin_dir)})
    _when(lambda: open_uploads() and (bin_dir / "hanging.pid").exists(), timeout=300)
    hanging = int((bin_dir / "hanging.pid").read_text())

    response = twin.api.patch(
        twin.url(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/dump"),
        json={"new_state": "failed"},
        timeout=REQUEST_TIMEOUT,
    )
    response.raise_for_status()

    _when(lambda: not open_uploads() and not Path(f"/proc/{hanging}").exists(), timeout=120)
    assert twin.wait_for_run(DAG_ID, run_id, timeout=120)["state"] == "failed"
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    assert listing.get("KeyCount", 0) == 0  # nothing committed, no manifest
    log = twin.task_log(DAG_ID, run_id, "dump")
    assert "interrupted by SIGTERM; pg_dump stopped, upload to s3://" in log

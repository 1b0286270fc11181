"""Emulators started as real HTTP servers: S3 (moto in server mode) and GCS (gcp-storage-emulator)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from twin.pgcluster import free_port


@dataclass
class ServiceProcess:
    """A child process in its own process group, stopped with its children."""

    name: str
    proc: subprocess.Popen
    url: str
    log_path: Path | None = None

    def terminate(self) -> None:
        """Ask the process group to stop (SIGTERM) without waiting; :meth:`stop` then waits for it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def spawn(
    name: str, argv: list[str], url: str, log_dir: Path | None, env: dict | None = None
) -> ServiceProcess:
    log_path = (log_dir / f"{name}.log") if log_dir else None
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env or os.environ.copy()
    )
    return ServiceProcess(name, proc, url, log_path)


def wait_http(service: ServiceProcess, path: str = "/", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            tail = service.log_path.read_text()[-2000:] if service.log_path else ""
            raise RuntimeError(f"{service.name} exited with {service.proc.returncode}:\n{tail}")
        try:
            requests.get(service.url + path, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{service.name} did not answer on {service.url} within {timeout:.0f}s")


def start_moto(port: int | None = None, log_dir: Path | None = None, name: str = "moto") -> ServiceProcess:
    """moto's S3 (and STS) in server mode: a real HTTP endpoint, as boto3 sees AWS."""
    port = port or free_port()
    service = spawn(
        name,
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        f"http://127.0.0.1:{port}",
        log_dir,
    )
    wait_http(service, "/moto-api/")
    return service


def start_gcs(port: int | None = None, log_dir: Path | None = None, name: str = "gcs") -> ServiceProcess:
    """gcp-storage-emulator in memory; clients reach it through ``STORAGE_EMULATOR_HOST``."""
    port = port or free_port()
    service = spawn(
        name,
        [
            sys.executable,
            "-m",
            "gcp_storage_emulator",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
        ],
        f"http://127.0.0.1:{port}",
        log_dir,
    )
    wait_http(service, "/")
    return service


def create_s3_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket)


def create_gcs_bucket(endpoint: str, bucket: str, project: str = "platform-kit-sandbox") -> None:
    response = requests.post(
        f"{endpoint}/storage/v1/b", params={"project": project}, json={"name": bucket}, timeout=10
    )
    if response.status_code not in (200, 409):
        response.raise_for_status()

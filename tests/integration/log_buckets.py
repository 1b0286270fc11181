"""Buckets of Airflow log objects whose ages a test chooses (no test functions here).

The S3 and GCS emulators stamp every upload with the current time. These run the same emulators (moto's
server, gcp-storage-emulator) inside the test process, over real HTTP on a free port, so that a test can
turn an object's last-modified time back, as ``os.utime`` does for the local log tests. Everything the
code under test does still goes through the real client and the emulator's HTTP API; only the clock of
planted objects is set from the side.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import requests

from platform_kit.storage.base import ObjectStore
from twin.pgcluster import free_port

BODY = b'{"event": "task log line", "level": "info"}\n'


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class AgingS3:
    """moto's S3 server (``ThreadedMotoServer``) in this process; :meth:`age` sets an object's time."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def conn_json(self) -> str:
        """An ``aws`` connection (for ``AIRFLOW_CONN_*``) pointing at this server."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": self.url},
            }
        )

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)

    def put(self, bucket: str, key: str, size: int) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=(BODY * (size // len(BODY) + 1))[:size])

    def set_time(self, bucket: str, key: str, epoch: float) -> None:
        from moto.s3.models import s3_backends

        for backend in _all_backends(s3_backends):
            if bucket in backend.buckets:
                found = backend.buckets[bucket].keys[key]
                found.last_modified = _utc(epoch).replace(tzinfo=None)  # moto keeps naive UTC
                return
        raise KeyError(bucket)


def _all_backends(backend_dict):
    for regions in backend_dict.values():
        yield from regions.values()


class AgingGCS:
    """gcp-storage-emulator in this process (in memory); :meth:`set_time` sets an object's ``updated``."""

    def __init__(self) -> None:
        from gcp_storage_emulator.server import create_server

        self.port = free_port()
        self.server = create_server("127.0.0.1", self.port, in_memory=True)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()

    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="p", credentials=AnonymousCredentials(), client_options={"api_endpoint": self.url}
        )

    def conn_json(self) -> str:
        return json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": "p", "emulator_host": self.url}}
        )

    def create_bucket(self, bucket: str) -> None:
        response = requests.post(
            f"{self.url}/storage/v1/b", params={"project": "p"}, json={"name": bucket}, timeout=10
        )
        response.raise_for_status()

    def put(self, bucket: str, key: str, size: int) -> None:
        blob = self.client().bucket(bucket).blob(key)
        blob.upload_from_string((BODY * (size // len(BODY) + 1))[:size])

    def set_time(self, bucket: str, key: str, epoch: float) -> None:
        stamp = _utc(epoch).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        obj = self.server._storage.objects[bucket][key]
        obj["updated"] = obj["timeCreated"] = stamp


class LogBucket:
    """One fresh bucket on an aging emulator, for one test.

    :param emulator: :class:`AgingS3` or :class:`AgingGCS`.
    :param scheme: ``"s3"`` or ``"gs"``.
    :param name: the bucket name.
    :param now: the epoch time ages are measured from.
    """

    def __init__(self, emulator, scheme: str, name: str, now: float) -> None:
        self.emulator = emulator
        self.scheme = scheme
        self.name = name
        self.now = now
        emulator.create_bucket(name)

    def url(self, prefix: str = "") -> str:
        return f"{self.scheme}://{self.name}/{prefix}".rstrip("/")

    def plant(self, key: str, age: float, size: int = 10) -> str:
        """Upload ``key`` with ``size`` bytes, last modified ``age`` seconds before :attr:`now`."""
        self.emulator.put(self.name, key, size)
        self.emulator.set_time(self.name, key, self.now - age)
        return key

    def store(self) -> ObjectStore:
        """A store on this bucket, built on the emulator's client as ``open_store`` builds it."""
        if self.scheme == "s3":
            from platform_kit.storage.s3 import S3Store

            return S3Store(self.emulator.client(), self.name)
        from platform_kit.storage.gcs import GCSStore

        return GCSStore(self.emulator.client(), self.name)

    def objects(self) -> set[str]:
        return {info.key for info in self.store().list("")}

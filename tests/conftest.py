"""Shared fixtures: real services started once per session and torn down at the end.

Tiers are pytest markers (``unit``, ``integration``, ``e2e``); every test module sets ``pytestmark``.
Airflow reads its configuration at import time, so the environment below is set before anything imports
``airflow``: a private AIRFLOW_HOME, no example DAGs, and unit-test friendly defaults.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

_airflow_home = Path(tempfile.mkdtemp(prefix="platform-kit-test-home-"))
os.environ.setdefault("AIRFLOW_HOME", str(_airflow_home))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(_airflow_home / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")


@pytest.fixture(scope="session")
def pg() -> Iterator:
    """A private PostgreSQL cluster (superuser DSN via ``pg.dsn()``)."""
    from twin.pgcluster import start_cluster

    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def migrated_metadb(pg, tmp_path_factory) -> str:
    """Name of a database in the session cluster that ``airflow db migrate`` (this environment's Airflow)
    made a metadata DB, once per session: migrating takes minutes on a loaded 2-core machine, copying
    seconds. Never use it directly; copy it: ``pg.create_database(name, template=migrated_metadb)``.
    """
    from airflow_env import migrated_metadata_db

    name = "airflow_migrated_template"
    migrated_metadata_db(pg, name, tmp_path_factory.mktemp("airflow-home-migrate"), timeout=900)
    return name


@pytest.fixture
def pg_database(pg) -> Iterator[str]:
    """A fresh, empty database in the session cluster; its DSN. Dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    dsn = pg.create_database(name)
    yield dsn
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator:
    """moto's S3 in server mode: a real HTTP endpoint (``moto_server.url``)."""
    from twin.services import start_moto

    service = start_moto(log_dir=tmp_path_factory.mktemp("moto"))
    yield service
    service.stop()


@pytest.fixture
def s3_bucket(moto_server, monkeypatch) -> str:
    """A fresh bucket on the moto server; boto3 in this process points at it through env vars."""
    from twin.services import create_s3_bucket

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    create_s3_bucket(moto_server.url, bucket)
    return bucket


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory) -> Iterator:
    """gcp-storage-emulator over HTTP (``gcs_server.url``)."""
    from twin.services import start_gcs

    service = start_gcs(log_dir=tmp_path_factory.mktemp("gcs"))
    yield service
    service.stop()


@pytest.fixture
def gcs_bucket(gcs_server, monkeypatch) -> str:
    """A fresh bucket on the GCS emulator; google-cloud-storage finds it via STORAGE_EMULATOR_HOST."""
    from twin.services import create_gcs_bucket

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    create_gcs_bucket(gcs_server.url, bucket)
    return bucket


@pytest.fixture
def slack_receiver() -> Iterator:
    """A local Slack-webhook receiver (``.url``, recorded messages in ``.state.messages``)."""
    from twin.receiver import ReceiverServer

    server = ReceiverServer().start()
    yield server
    server.stop()

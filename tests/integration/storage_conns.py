"""Airflow connection JSON (for ``AIRFLOW_CONN_*`` env vars) pointing at the test emulators."""

from __future__ import annotations

import json


def aws_conn_json(endpoint: str, **extra: object) -> str:
    """An ``aws`` connection for moto at ``endpoint``; ``extra`` adds e.g. ``config_kwargs``."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": endpoint, **extra},
        }
    )


def google_conn_json(emulator: str) -> str:
    """A ``google_cloud_platform`` connection naming the GCS emulator (anonymous credentials)."""
    return json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"project": "p", "emulator_host": emulator}}
    )

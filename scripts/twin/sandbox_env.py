"""Read ``sandbox/airflow.env``, the one definition of the sandbox's connections and variables.

docker-compose.yaml loads the file as an ``env_file``; the twin loads it here and points the compose
service addresses at its own loopback ports, so the two stacks cannot drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ENV_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "airflow.env"

#: How each compose service is addressed inside the compose network.
COMPOSE_ADDRESSES = {
    "postgres": "postgres:5432",
    "s3": "http://s3:5000",
    "gcs": "http://gcs:9023",
    "slack-receiver": "http://slack-receiver:8090",
    "airflow-apiserver": "http://airflow-apiserver:8080",
}


def load(path: Path = ENV_FILE) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines (``#`` comments and blank lines ignored), as compose's env_file does."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        values[key.strip()] = value.strip()
    return values


def _rewrite(value: Any, urls: dict[str, str]) -> Any:
    if isinstance(value, str):
        for compose_url, twin_url in urls.items():
            value = value.replace(compose_url, twin_url)
        return value
    if isinstance(value, dict):
        return {key: _rewrite(item, urls) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, urls) for item in value]
    return value


def twin_environment(endpoints: dict[str, str], path: Path = ENV_FILE) -> dict[str, str]:
    """The env file with compose addresses replaced by the twin's ``endpoints``.

    :param endpoints: ``{service: address}``; ``postgres`` is ``host:port``, the others are URLs.
    """
    urls = {COMPOSE_ADDRESSES[name]: address for name, address in endpoints.items() if name != "postgres"}
    pg_host, _, pg_port = endpoints["postgres"].rpartition(":")
    env: dict[str, str] = {}
    for key, value in load(path).items():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            env[key] = _rewrite(value, urls)
            continue
        if isinstance(parsed, dict) and parsed.get("host") == "postgres":
            parsed = {**parsed, "host": pg_host, "port": int(pg_port)}
        env[key] = json.dumps(_rewrite(parsed, urls))
    return env

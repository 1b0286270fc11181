"""Export engine, collection rules, REST client and CLI errors, without Airflow services.

The REST client is exercised against a small local HTTP server standing in for the api-server's
``/auth/token`` and paginated ``/api/v2`` endpoints (the real api-server is covered by the e2e tests).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from platform_kit.cli import main
from platform_kit.exceptions import ConfigurationError, ConnectionLookupError, ExportError
from platform_kit.export import crypto
from platform_kit.export.api import AirflowApi, base_url_from_connection
from platform_kit.export.collect import collect_connections, collect_variables
from platform_kit.export.engine import ExportRequest, check_mode, run_export, title_for
from platform_kit.export.format import ExportContent, parse_bundle
from platform_kit.export.keys import key_from_connection

pytestmark = pytest.mark.unit

KEY = crypto.parse_key(crypto.generate_key())


class RecordingDestination:
    url = "s3://bucket/exports"

    def __init__(self, fail_check: bool = False):
        self.calls: list[str] = []
        self.uploaded: dict[str, bytes] = {}
        self.manifest: dict | None = None
        self.fail_check = fail_check

    def check(self):
        self.calls.append("check")
        if self.fail_check:
            raise ExportError("bucket unreachable")

    def publish(self, folder, name, data, manifest):
        self.calls.append("publish")
        self.uploaded[f"{folder}/{name}"] = data
        self.manifest = manifest
        return {"artifact": f"{self.url}/{folder}/{name}", "manifest": f"{self.url}/{folder}/manifest.json"}

    def retention(self, *, now, dry_run, protect=None):
        self.calls.append(f"retention(dry_run={dry_run})")
        return {"deleted": []}


def _content() -> ExportContent:
    return ExportContent(
        variables={"api_key": "pk-secret-value-1"},
        connections={"db": {"conn_type": "postgres", "password": "pk-secret-pass", "port": 5432}},
    )


def test_export_seals_uploads_then_prunes_and_summary_holds_no_value():
    destination = RecordingDestination()
    summary = run_export(ExportRequest(mode="sdk", key=KEY), _content, destination)
    assert destination.calls == ["check", "publish", "retention(dry_run=False)"]
    (artifact,) = destination.uploaded.values()
    assert parse_bundle(crypto.decrypt(artifact, KEY))["variables"] == {"api_key": "pk-secret-value-1"}
    assert destination.manifest["key_fingerprint"] == crypto.key_fingerprint(KEY)
    assert destination.manifest["counts"] == {"variables": 1, "connections": 1}
    assert summary["variables"] == 1 and summary["bytes"] == len(artifact)
    assert "pk-secret" not in json.dumps(summary) + json.dumps(destination.manifest)
    assert title_for(summary) == "Variable and connection export"


def test_nothing_is_uploaded_when_collection_or_destination_fails():
    def broken() -> ExportContent:
        raise ExportError("cannot reach the Airflow API")

    destination = RecordingDestination()
    with pytest.raises(ExportError):
        run_export(ExportRequest(mode="sdk", key=KEY), broken, destination)
    assert destination.calls == ["check"]

    collected = []
    destination = RecordingDestination(fail_check=True)
    with pytest.raises(ExportError):
        run_export(ExportRequest(mode="sdk", key=KEY), lambda: collected.append(1) or _content(), destination)
    assert collected == [] and destination.uploaded == {}


def test_plaintext_and_dry_run_are_spelled_out():
    destination = RecordingDestination()
    summary = run_export(ExportRequest(mode="sdk", key=None, dry_run=True), _content, destination)
    assert destination.calls == ["check", "retention(dry_run=True)"]
    assert summary["encryption"].startswith("PLAINTEXT")
    assert title_for(summary) == "Variable and connection export (PLAINTEXT, dry run)"


def test_modes_are_db_and_sdk_and_the_retired_cli_mode_names_its_replacement():
    assert check_mode("db") == "db" and check_mode("sdk") == "sdk"
    with pytest.raises(ConfigurationError, match=r"mode 'cli' was replaced by mode 'db'.*use mode=db"):
        check_mode("cli")
    with pytest.raises(ConfigurationError, match="unknown export mode 'fast'; use one of db, sdk"):
        check_mode("fast")


def test_export_create_needs_a_destination_and_offers_the_dags_options(capsys):
    with pytest.raises(SystemExit):
        main(["export", "create"])
    assert "--to" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "create", "--help"])
    usage = capsys.readouterr().out
    for option in (
        "--key-conn",
        "--plaintext",
        "--conn-id",
        "--dsn",
        "--keep-daily",
        "--dry-run",
        "--slack-conn-id",
    ):
        assert option in usage, option


def test_gone_entries_are_skipped_flaky_reads_retried_and_unreadable_ones_fail(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SHADOWED", "env value")
    stored = {"plain": "v1", "shadowed": "db value", "flaky": "v3"}
    calls: list[str] = []

    def read(key):
        calls.append(key)
        if key == "flaky" and calls.count("flaky") == 1:
            return None  # the execution API answers "not found" for transient failures too
        return stored.get(key)

    content = ExportContent()
    collect_variables(
        ["plain", "shadowed", "flaky", "gone"], read, {"plain": "d"}, content, still_exists=lambda key: False
    )
    assert content.variables == {
        "plain": {"value": "v1", "description": "d"},
        "shadowed": "db value",
        "flaky": "v3",
    }
    assert content.skipped == ["gone"]
    assert content.shadowed == ["shadowed"]

    with pytest.raises(ExportError, match="variable 'stuck' exists but could not be read"):
        collect_variables(["stuck"], lambda key: None, {}, ExportContent(), still_exists=lambda key: True)

    conn = SimpleNamespace(
        conn_type="http", host="db", login=None, password="pw", schema=None, port="80", extra=None
    )
    content = ExportContent()
    collect_connections(
        {"c": "about c", "gone": None}, {"c": conn}.get, content, still_exists=lambda c: False
    )
    assert content.connections["c"]["description"] == "about c" and content.connections["c"]["port"] == 80
    assert content.skipped == ["gone"]


def test_unexpected_read_errors_are_not_swallowed():
    def boom(key):
        raise RuntimeError("execution API down")

    with pytest.raises(RuntimeError):
        collect_variables(["a"], boom, {}, ExportContent())


def test_missing_or_bad_key_connection_says_what_to_do(monkeypatch):
    # Connections from the environment, as an operator's shell or a worker defines them.
    monkeypatch.delenv("AIRFLOW_CONN_K", raising=False)
    with pytest.raises(ConnectionLookupError, match="'k' \\(export key\\) not found: create it with a key"):
        key_from_connection("k")
    monkeypatch.setenv("AIRFLOW_CONN_K", '{"conn_type": "generic", "password": "hunter2"}')
    with pytest.raises(ExportError, match="not a base64-encoded 32-byte key"):
        key_from_connection("k")
    key = crypto.generate_key()
    monkeypatch.setenv("AIRFLOW_CONN_K", json.dumps({"conn_type": "generic", "password": key}))
    assert key_from_connection("k") == crypto.parse_key(key)


@pytest.mark.parametrize(
    "host, schema, port, expected",
    [
        ("http://api:8080", None, None, "http://api:8080"),
        ("http://api", None, 8080, "http://api:8080"),
        ("api", "https", 443, "https://api:443"),
        ("api/", None, None, "http://api"),
    ],
)
def test_api_base_url_from_http_connection(host, schema, port, expected):
    conn = SimpleNamespace(conn_id="airflow_api", host=host, schema=schema, port=port)
    assert base_url_from_connection(conn) == expected


class _FakeApi(BaseHTTPRequestHandler):
    connections = [{"connection_id": f"c{i:03d}", "description": f"d{i}"} for i in range(250)]
    seen_limits: list[int] = []

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body == {"username": "svc", "password": "right"}:
            self._send(201, {"access_token": "tok"})
        else:
            self._send(401, {"detail": "Invalid credentials"})

    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer tok":
            self._send(401, {"detail": "no token"})
            return
        query = parse_qs(urlsplit(self.path).query)
        limit, offset = int(query["limit"][0]), int(query["offset"][0])
        self.seen_limits.append(limit)
        page = self.connections[offset : offset + limit]
        self._send(200, {"connections": page, "total_entries": len(self.connections)})


@pytest.fixture
def fake_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_connection_ids_are_paged_to_the_end(fake_api):
    api = AirflowApi(fake_api, "svc", "right")
    descriptions = api.connection_descriptions()
    assert len(descriptions) == 250 and descriptions["c249"] == "d249"
    assert set(_FakeApi.seen_limits) == {100}


def test_wrong_service_account_and_unreachable_api_fail_in_one_line(fake_api):
    with pytest.raises(
        ExportError, match="rejected the service-account credentials of connection 'airflow_api'"
    ):
        AirflowApi(fake_api, "svc", "wrong").login()
    with pytest.raises(
        ExportError,
        match=r"cannot reach the Airflow API at http://127\.0\.0\.1:9 \(ConnectionError after 2 attempt",
    ):
        AirflowApi("http://127.0.0.1:9", "svc", "right", timeout=5, retry_delays=(0.1,)).login()


def test_cli_decrypt_fails_loudly_on_wrong_key_and_tampering(tmp_path, capsys, monkeypatch):
    document = b'{"format":"platform-kit-export","version":1,"variables":{"a":"1"},"connections":{}}'
    sealed = tmp_path / "x.pkexp"
    sealed.write_bytes(crypto.encrypt(document, KEY))
    monkeypatch.setenv("PK_TEST_WRONG_KEY", crypto.generate_key())
    assert (
        main(["export", "decrypt", str(sealed), "--key-env", "PK_TEST_WRONG_KEY", "--out", str(tmp_path)])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("platform-kit: error: wrong key") and err.count("\n") == 1

    tampered = bytearray(sealed.read_bytes())
    tampered[-5] ^= 0x80
    sealed.write_bytes(bytes(tampered))
    import base64

    monkeypatch.setenv("PK_TEST_KEY", base64.b64encode(KEY).decode())
    assert (
        main(["export", "decrypt", str(sealed), "--key-env", "PK_TEST_KEY", "--out", str(tmp_path / "o")])
        == 2
    )
    assert "modified or truncated" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

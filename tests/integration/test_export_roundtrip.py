"""Export files through the real `airflow variables import` / `airflow connections import` into fresh,
migrated Airflow metadata DBs in the session PostgreSQL cluster, compared field by field."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from export_airflow import AIRFLOW_BIN, AirflowDB, Content, create_database, differences, make_content

from platform_kit.cli import main
from platform_kit.exceptions import ExportError
from platform_kit.export import crypto, restore
from platform_kit.export.collect import collect_connections, collect_variables, collect_via_cli
from platform_kit.export.format import ExportContent, build_bundle

pytestmark = pytest.mark.integration

TEMPLATE = "pk_export_template"


@pytest.fixture(scope="module")
def migrated_template(pg) -> str:
    """One migrated Airflow DB; every test copies it (CREATE DATABASE ... TEMPLATE) instead of migrating."""
    db = AirflowDB(create_database(pg.dsn(), TEMPLATE)).migrate()
    return db.fernet_key


@pytest.fixture
def fresh_db(pg, migrated_template):
    def make() -> AirflowDB:
        return AirflowDB(create_database(pg.dsn(), f"pk_export_{uuid.uuid4().hex[:8]}", template=TEMPLATE))

    return make


def _collect_like_the_task(content: Content) -> ExportContent:
    """What the sdk-mode task does, with the Task SDK getters answered from ``content``."""
    out = ExportContent()
    collect_variables(
        list(content.variables),
        lambda key: content.variables[key]["value"],
        {k: v["description"] for k, v in content.variables.items()},
        out,
    )
    collect_connections(
        {k: c["description"] for k, c in content.connections.items()},
        lambda conn_id: SimpleNamespace(**content.connections[conn_id]),
        out,
    )
    return out


def _sealed_export(tmp_path, content: Content) -> tuple:
    key_text = crypto.generate_key()
    key_file = tmp_path / "key"
    key_file.write_text(key_text + "\n")
    document = build_bundle(
        _collect_like_the_task(content), created_at="2026-11-21T00:00:00+00:00", source={"mode": "sdk"}
    )
    artifact = tmp_path / "export.pkexp"
    artifact.write_bytes(crypto.encrypt(document, crypto.parse_key(key_text)))
    return artifact, key_file


def test_every_field_survives_the_airflow_import_cli(tmp_path, fresh_db, capsys):
    content = make_content(60, 21)
    artifact, key_file = _sealed_export(tmp_path, content)
    out = tmp_path / "restore"
    assert main(["export", "decrypt", str(artifact), "--key-file", str(key_file), "--out", str(out)]) == 0
    assert "wrote 68 variables" in capsys.readouterr().out

    target = fresh_db()
    target.cli("variables", "import", str(out / "variables.json"))
    target.cli("connections", "import", str(out / "connections.json"))

    assert differences(content, target.dump()) == []


def test_platform_kit_import_honours_on_existing(tmp_path, fresh_db):
    content = make_content(12, 7)
    artifact, key_file = _sealed_export(tmp_path, content)
    out = tmp_path / "restore"
    assert main(["export", "decrypt", str(artifact), "--key-file", str(key_file), "--out", str(out)]) == 0
    target = fresh_db()

    result = restore.import_with_cli(out, "fail", airflow_bin=AIRFLOW_BIN, env=target.env)
    assert result["variables"] == len(content.variables)
    assert differences(content, target.dump()) == []

    some_key = next(iter(content.variables))
    some_conn = next(iter(content.connections))
    target.cli("variables", "set", some_key, "changed by an operator")
    target.cli("connections", "delete", some_conn)
    target.cli("connections", "add", some_conn, "--conn-type", "generic", "--conn-host", "changed")

    with pytest.raises(ExportError, match="already exist in the target"):
        restore.import_with_cli(out, "fail", airflow_bin=AIRFLOW_BIN, env=target.env)
    after_fail = target.dump()
    assert after_fail.variables[some_key]["value"] == "changed by an operator"

    restore.import_with_cli(out, "skip", airflow_bin=AIRFLOW_BIN, env=target.env)
    skipped = target.dump()
    assert skipped.variables[some_key]["value"] == "changed by an operator"
    assert skipped.connections[some_conn]["host"] == "changed"

    restore.import_with_cli(out, "overwrite", airflow_bin=AIRFLOW_BIN, env=target.env)
    assert differences(content, target.dump()) == []


def test_cli_mode_reads_the_metadata_db_through_the_url_override(tmp_path, fresh_db, pg, monkeypatch):
    content = make_content(40, 14)
    source = fresh_db()
    source.load(content)
    # The worker's own environment: its Fernet key, and the sentinel URL a task sees.
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", source.fernet_key)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "airflow-db-not-allowed:///")
    monkeypatch.setenv("AIRFLOW_HOME", str(source.home))
    parts = urlsplit(source.dsn)
    metadb = SimpleNamespace(
        conn_type="postgres",
        login=parts.username,
        password=parts.password,
        host=parts.hostname,
        port=parts.port,
        schema=parts.path.lstrip("/"),
        extra=None,
    )
    exported = collect_via_cli(metadb, "airflow_metadb", airflow_bin=AIRFLOW_BIN)
    assert set(exported.variables) == set(content.variables)
    assert exported.connections.keys() == content.connections.keys()

    out = tmp_path / "restore"
    from platform_kit.export.format import parse_bundle, write_import_files

    write_import_files(parse_bundle(build_bundle(exported, created_at="t", source={"mode": "cli"})), out)
    target = fresh_db()
    target.cli("variables", "import", str(out / "variables.json"))
    target.cli("connections", "import", str(out / "connections.json"))
    restored = target.dump()

    assert (
        differences(Content(connections=content.connections), Content(connections=restored.connections)) == []
    )
    # The documented cli-mode trade-offs (they are the CLI's own): JSON values come back equal as JSON,
    # not byte for byte, and an empty description comes back as none.
    reindented = 0
    for key, want in content.variables.items():
        got = restored.variables[key]
        assert (got["description"] or None) == (want["description"] or None), key
        if got["value"] != want["value"]:
            assert json.loads(got["value"]) == json.loads(want["value"]), key
            reindented += 1
    assert reindented > 0


def test_wrong_metadb_password_fails_in_one_line_without_leaking_it(fresh_db, monkeypatch):
    source = fresh_db()
    monkeypatch.setenv("AIRFLOW_HOME", str(source.home))
    parts = urlsplit(source.dsn)
    metadb = SimpleNamespace(
        conn_type="postgres",
        login=parts.username,
        password="wrong-pass:@/%#",
        host=parts.hostname,
        port=parts.port,
        schema="postgres",
        extra=None,
    )
    with pytest.raises(ExportError) as exc:
        collect_via_cli(metadb, "airflow_metadb", airflow_bin=AIRFLOW_BIN)
    message = str(exc.value)
    assert "\n" not in message and "airflow variables export" in message
    assert "wrong-pass" not in message

"""Export files through the real `airflow variables import` / `airflow connections import` into fresh,
migrated Airflow metadata DBs in the session PostgreSQL cluster, compared field by field."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from export_airflow import AirflowDB, Content, create_database, differences, make_content

from platform_kit import version_compat
from platform_kit.cli import main
from platform_kit.dburl import sqlalchemy_url, url_from_dsn
from platform_kit.exceptions import ExportError
from platform_kit.export import crypto, restore
from platform_kit.export.collect import collect_connections, collect_from_db, collect_variables
from platform_kit.export.format import ExportContent, build_bundle, parse_bundle, write_import_files

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_db(pg, migrated_metadb):
    """A fresh migrated Airflow DB: a copy of the session's (CREATE DATABASE ... TEMPLATE), not a migrate."""

    def make() -> AirflowDB:
        name = f"pk_export_{uuid.uuid4().hex[:8]}"
        return AirflowDB(create_database(pg.dsn(), name, template=migrated_metadb))

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


@pytest.mark.matrix  # this minor's `airflow variables/connections import` of a decrypted export
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

    result = restore.import_with_cli(out, "fail", env=target.env)
    assert result["variables"] == len(content.variables)
    assert differences(content, target.dump()) == []

    some_key = next(iter(content.variables))
    some_conn = next(iter(content.connections))
    target.cli("variables", "set", some_key, "changed by an operator")
    target.cli("connections", "delete", some_conn)
    target.cli("connections", "add", some_conn, "--conn-type", "generic", "--conn-host", "changed")

    with pytest.raises(ExportError, match="already exist in the target"):
        restore.import_with_cli(out, "fail", env=target.env)
    after_fail = target.dump()
    assert after_fail.variables[some_key]["value"] == "changed by an operator"

    restore.import_with_cli(out, "skip", env=target.env)
    skipped = target.dump()
    assert skipped.variables[some_key]["value"] == "changed by an operator"
    assert skipped.connections[some_conn]["host"] == "changed"

    restore.import_with_cli(out, "overwrite", env=target.env)
    assert differences(content, target.dump()) == []


def _db_mode_environment(monkeypatch, source: AirflowDB, fernet_key: str | None) -> None:
    """A worker's environment: its Fernet key (or none), and the sentinel URL a task sees."""
    if fernet_key is None:
        monkeypatch.delenv("AIRFLOW__CORE__FERNET_KEY", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", fernet_key)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "airflow-db-not-allowed:///")
    monkeypatch.setenv("AIRFLOW_HOME", str(source.home))


def _stored_encrypted(db: AirflowDB) -> tuple[int, int]:
    """How many variable values and connection passwords the DB holds Fernet-encrypted."""
    import psycopg

    with psycopg.connect(db.dsn) as conn:
        variables = conn.execute("SELECT count(*) FROM variable WHERE is_encrypted").fetchone()[0]
        passwords = conn.execute("SELECT count(*) FROM connection WHERE is_encrypted").fetchone()[0]
    return variables, passwords


@pytest.mark.matrix  # this minor's tables, Fernet helper and masker, and its import of the result
def test_db_mode_exports_the_stored_rows_in_the_sdk_format_and_they_import_back(
    tmp_path, fresh_db, monkeypatch
):
    content = make_content(60, 21)
    # Values older minors' CLI round trip got wrong (a JSON list, an empty value with a description):
    # the db mode reads the stored strings, so they come back exactly.
    content.variables["pk_list_two"] = {"value": "[1, 2]", "description": None}
    content.variables["pk_list_one"] = {"value": '["only"]', "description": None}
    content.variables["pk_empty_described"] = {"value": "", "description": "empty on purpose"}
    source = fresh_db()
    source.load(content)
    assert _stored_encrypted(source) == (len(content.variables), 19)  # values are Fernet tokens at rest
    _db_mode_environment(monkeypatch, source, source.fernet_key)
    progress: list[str] = []

    exported = collect_from_db(url_from_dsn(source.dsn), source="the test DB", output=progress.append)

    # One format: exactly what the sdk mode builds from the same entries, byte for byte.
    expected = _collect_like_the_task(content)
    assert exported.variables == expected.variables
    assert exported.connections == expected.connections
    assert exported.skipped == [] and exported.shadowed == []
    assert exported.timings["read_rows_seconds"] >= 0 and exported.timings["decrypt_seconds"] >= 0
    read_line = f"read {len(content.variables)} variables and 21 connections"
    assert any(read_line in line for line in progress), progress
    shown = "\n".join(progress)
    assert [s for s in content.secrets() if s in shown] == [] and "pkS3cret" not in shown
    # Nothing was registered with this process's secrets masker (that registration is the quadratic
    # cost the db mode avoids; values are never logged, so it buys nothing).
    monkeypatch.undo()  # this process's own Airflow settings again (the sentinel URL cannot be imported)
    assert [s for s in content.secrets() if version_compat.redact(s) != s] == []

    out = tmp_path / "restore"
    write_import_files(parse_bundle(build_bundle(exported, created_at="t", source={"mode": "db"})), out)
    target = fresh_db()
    result = restore.import_with_cli(out, "fail", env=target.env)
    assert result["variables"] == len(content.variables)
    assert differences(content, target.dump()) == []


@pytest.mark.matrix  # this minor's Fernet helper, with a rotation's key list
def test_db_mode_names_each_row_it_cannot_decrypt_and_exports_nothing(fresh_db, monkeypatch):
    source = fresh_db()
    source.load(make_content(5, 3))
    # Two rows written under another Fernet key (a key dropped from a rotation too early).
    stranger = AirflowDB(
        source.dsn, fernet_key="Tq6bNPXOu0Z1c5t2ZQ2h3aOQ9hXvUe3wQm5a8b1dJ0E=", home=source.home
    )
    foreign = make_content(1, 1, seed=99)
    foreign.variables = {"pk_foreign_var": next(iter(foreign.variables.values()))}
    foreign.connections = {"pk_foreign_conn": next(iter(foreign.connections.values()))}
    stranger.load(foreign)
    _db_mode_environment(monkeypatch, source, source.fernet_key)

    with pytest.raises(ExportError) as caught:
        collect_from_db(url_from_dsn(source.dsn), source="the test DB", output=lambda _: None)
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot be decrypted with [core] fernet_key" in message
    assert re.search(r"variable 'pk_foreign_var' \(id \d+\)", message), message
    assert re.search(r"connection 'pk_foreign_conn' \(id \d+\) password", message), message
    assert "nothing was exported" in message
    assert "pkS3cret" not in message

    # With both keys (how a rotation is configured: new,old) every row decrypts.
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", f"{source.fernet_key},{stranger.fernet_key}")
    exported = collect_from_db(url_from_dsn(source.dsn), source="the test DB", output=lambda _: None)
    assert {"pk_foreign_var"} <= set(exported.variables) and "pk_foreign_conn" in exported.connections
    assert (
        exported.connections["pk_foreign_conn"]["password"]
        == foreign.connections["pk_foreign_conn"]["password"]
    )


def test_db_mode_without_the_fernet_key_fails_in_one_line_naming_the_fix(fresh_db, monkeypatch):
    source = fresh_db()
    source.load(make_content(4, 2))
    _db_mode_environment(monkeypatch, source, None)
    with pytest.raises(ExportError) as caught:
        collect_from_db(url_from_dsn(source.dsn), source="the test DB", output=lambda _: None)
    message = str(caught.value)
    assert "\n" not in message
    assert "are Fernet-encrypted but [core] fernet_key is empty" in message
    assert "AIRFLOW__CORE__FERNET_KEY" in message and "mode=sdk" in message


def test_db_mode_reads_a_db_written_without_a_fernet_key_without_one(fresh_db, monkeypatch):
    content = make_content(6, 3)
    source = fresh_db()
    AirflowDB(source.dsn, fernet_key="", home=source.home).load(content)  # Airflow stores plaintext then
    assert _stored_encrypted(source) == (0, 0)
    _db_mode_environment(monkeypatch, source, None)
    exported = collect_from_db(url_from_dsn(source.dsn), source="the test DB", output=lambda _: None)
    assert exported.variables == _collect_like_the_task(content).variables


def test_db_mode_with_a_wrong_password_fails_in_one_line_without_leaking_it(fresh_db, monkeypatch):
    source = fresh_db()
    _db_mode_environment(monkeypatch, source, source.fernet_key)
    parts = urlsplit(source.dsn)
    url = sqlalchemy_url(
        host=parts.hostname,
        port=parts.port,
        login=parts.username,
        password="wrong-pass:@/%#",
        schema=parts.path.lstrip("/"),
    )
    progress: list[str] = []
    with pytest.raises(ExportError) as caught:
        collect_from_db(url, source="connection 'airflow_metadb'", output=progress.append)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("export mode db: cannot read Airflow's variable and connection tables")
    assert "connection 'airflow_metadb'" in message
    assert "wrong-pass" not in message and "wrong-pass" not in "\n".join(progress)


# --- nothing lost, nothing half-done (issue 15) ------------------------------------------------------------

PLATFORM_KIT = str(Path(sys.executable).with_name("platform-kit"))


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("platform-kit: error:")]


def test_decrypt_onto_a_full_disk_leaves_no_plaintext_and_ends_in_one_line(tmp_path):
    """A 64 KiB tmpfs (mounted in a private mount namespace, so no root on the host is needed) fills up
    while variables.json is written: the partial plaintext used to stay, and the run ended in a traceback."""
    if not shutil.which("unshare") or subprocess.run(["unshare", "-rm", "true"], check=False).returncode:
        pytest.skip("needs unshare with user and mount namespaces to mount a tmpfs")
    artifact, key_file = _sealed_export(tmp_path, make_content(30, 5))  # ~300 KB of plaintext
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    out = tiny / "restore"
    decrypt = [
        PLATFORM_KIT,
        "export",
        "decrypt",
        str(artifact),
        "--key-file",
        str(key_file),
        "--out",
        str(out),
    ]
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(tiny))} || exit 99\n"
        f"{shlex.join(decrypt)}\n"
        'echo "exit=$?"\n'
        f"ls -A {shlex.quote(str(out))}\n"
    )
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    status, *listing = proc.stdout.strip().splitlines()
    assert status == "exit=2" and listing == []  # not even a temporary file is left in the folder
    (line,) = _error_lines(proc.stderr)
    assert "No space left on device" in line and "was removed" in line
    assert "Traceback" not in proc.stderr


def _decrypted(tmp_path, content: Content) -> tuple[Path, dict]:
    artifact, key_file = _sealed_export(tmp_path, content)
    out = tmp_path / "restore"
    assert main(["export", "decrypt", str(artifact), "--key-file", str(key_file), "--out", str(out)]) == 0
    return out, json.loads((out / "connections.json").read_text())


def _platform_kit_import(out: Path, target: AirflowDB) -> subprocess.CompletedProcess:
    """``platform-kit export import DIR`` from a shell configured for the target Airflow (``airflow`` on
    PATH, as on an Airflow host)."""
    env = {**target.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{target.env.get('PATH', '')}"}
    return subprocess.run(
        [PLATFORM_KIT, "export", "import", str(out)], env=env, capture_output=True, text=True, timeout=600
    )


def test_import_is_all_or_nothing_and_a_rerun_finishes_the_job(tmp_path, fresh_db):
    content = make_content(12, 4)
    out, connections = _decrypted(tmp_path, content)
    bad = sorted(connections)[-1]
    target = fresh_db()

    def untouched() -> bool:
        rows = target.dump()
        return not set(rows.variables) & set(content.variables) and not set(rows.connections) & set(
            connections
        )

    # A value Airflow refuses: both files are checked before anything is written.
    (out / "connections.json").write_text(
        json.dumps({**connections, bad: {**connections[bad], "port": "notaport"}})
    )
    proc = _platform_kit_import(out, target)
    assert proc.returncode == 2
    (line,) = _error_lines(proc.stderr)
    assert (
        f"connection '{bad}': port 'notaport' is not a whole number" in line
        and "nothing was imported" in line
    )
    assert untouched()

    # What only the database knows (a host longer than its column): the one transaction rolls back.
    (out / "connections.json").write_text(
        json.dumps({**connections, bad: {**connections[bad], "host": "h" * 600}})
    )
    proc = _platform_kit_import(out, target)
    assert proc.returncode == 2
    (line,) = _error_lines(proc.stderr)
    assert "value too long" in line and "nothing was imported" in line
    assert "sqlalche.me" not in proc.stderr and "Traceback" not in proc.stderr
    assert untouched()

    # Fixed, the same command (default --on-existing fail: it would refuse any half-import) does it all.
    (out / "connections.json").write_text(json.dumps(connections))
    proc = _platform_kit_import(out, target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["complete"] is True
    assert differences(content, target.dump()) == []

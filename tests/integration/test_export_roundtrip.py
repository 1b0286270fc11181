"""Export files through the real `airflow variables import` / `airflow connections import` into fresh,
migrated Airflow metadata DBs in the session PostgreSQL cluster, compared field by field."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from export_airflow import AIRFLOW_BIN, AirflowDB, Content, create_database, differences, make_content

from platform_kit.cli import main
from platform_kit.exceptions import ExportError
from platform_kit.export import crypto, restore
from platform_kit.export.collect import collect_connections, collect_variables, collect_via_cli
from platform_kit.export.format import ExportContent, build_bundle
from platform_kit.version_compat import variables_export_round_trips

pytestmark = pytest.mark.integration


def _is_json_string(text: str) -> bool:
    try:
        return isinstance(json.loads(text), str)
    except ValueError:
        return False


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


@pytest.mark.matrix  # the export and import formats of this minor's `airflow` CLI
def test_cli_mode_reads_the_metadata_db_through_the_url_override(tmp_path, fresh_db, pg, monkeypatch):
    content = make_content(40, 14)
    # What older minors' `airflow variables import` gets wrong unless the kit spells it out: JSON lists
    # (3.1 refuses a file with one, or unwraps a one-item list) and an empty value with a description
    # (before 3.3 the import stores the whole envelope as the value).
    content.variables["pk_list_two"] = {"value": "[1, 2]", "description": None}
    content.variables["pk_list_one"] = {"value": '["only"]', "description": None}
    content.variables["pk_empty_described"] = {"value": "", "description": "empty on purpose"}
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
    result = restore.import_with_cli(out, "overwrite", env=target.env)
    assert result["variables"] == len(content.variables)
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
            if not variables_export_round_trips() and _is_json_string(want["value"]):
                # Before 3.3.2 the CLI's export writes a JSON string value unquoted (docs/export.md).
                assert got["value"] == json.loads(want["value"]), key
                continue
            assert json.loads(got["value"]) == json.loads(want["value"]), key
            reindented += 1
    assert reindented > 0
    assert restored.variables["pk_empty_described"] == {"value": "", "description": "empty on purpose"}
    assert json.loads(restored.variables["pk_list_one"]["value"]) == ["only"]


@pytest.mark.matrix  # how this minor's `airflow` CLI reports a refused DB login
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

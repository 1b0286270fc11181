"""The export DAG in the twin, in every mode: 200 variables and 50 connections out, encrypted, into a fresh
Airflow DB, every field equal, no secret in any task log; bad input fails in one line and uploads nothing.
``platform-kit export create`` from a plain shell uploads the same artifact."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from export_airflow import (
    AirflowDB,
    Content,
    create_database,
    differences,
    drop_database,
    dump_rows,
    make_content,
)
from plain_shell import one_error_line, plain_shell

from platform_kit.cli import main
from platform_kit.export import crypto, restore
from platform_kit.export.format import parse_bundle
from platform_kit.export.publish import download
from twin.client import REQUEST_TIMEOUT
from twin.remote_logs import wait_for_remote_logs

pytestmark = pytest.mark.e2e

DAG_ID = "platform_kit_export"
BUCKET = "platform-kit-backups"
SHADOWED_KEY = "platform_kit_backup_url"  # also AIRFLOW_VAR_PLATFORM_KIT_BACKUP_URL in the twin's env
SHADOWED_DB_VALUE = "s3://db-value-not-env/pkS3cretShadow"
MODES = ("db", "sdk")
TEMPLATE_DB = "pk_e2e_export_template"


def _bulk(twin, collection: str, entities: list[dict], action: str = "create") -> None:
    for start in range(0, len(entities), 25):
        chunk = entities[start : start + 25]
        if action == "create":
            body = {"actions": [{"action": "create", "entities": chunk, "action_on_existence": "overwrite"}]}
        else:
            body = {"actions": [{"action": "delete", "entities": chunk, "action_on_non_existence": "skip"}]}
        response = twin.api.patch(twin.url(collection), json=body, timeout=120)
        response.raise_for_status()
        errors = response.json()[action]["errors"]
        assert not errors, errors


@pytest.fixture(scope="module")
def seeded(twin):
    """200 variables and 50 connections created through the REST bulk endpoints (removed afterwards)."""
    content = make_content(191, 50)  # + 8 fixed scalars + the shadowed key = 200
    content.variables[SHADOWED_KEY] = {"value": SHADOWED_DB_VALUE, "description": "db copy"}
    assert len(content.variables) == 200
    _bulk(twin, "variables", [{"key": k, **v} for k, v in content.variables.items()])
    _bulk(twin, "connections", [{"connection_id": k, **c} for k, c in content.connections.items()])
    yield content
    _bulk(twin, "variables", list(content.variables), action="delete")
    _bulk(twin, "connections", list(content.connections), action="delete")


def _objects(twin, prefix: str) -> list[str]:
    listing = twin.s3_client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def _run(twin, conf: dict) -> tuple[str, dict]:
    run_id = twin.trigger(DAG_ID, conf=conf)
    return run_id, twin.wait_for_run(DAG_ID, run_id, timeout=600)


def _all_logs(twin, run_id: str) -> str:
    """Every task log of the run, as users read it (the API) and as it rests: the twin logs remotely, so
    the objects in the log bucket (no local copy is kept), plus anything still in the local folder."""
    texts = [
        twin.task_log(DAG_ID, run_id, ti["task_id"], try_number=max(ti["try_number"], 1))
        for ti in twin.task_instances(DAG_ID, run_id)
    ]
    texts += wait_for_remote_logs(twin, DAG_ID, run_id).values()
    for path in Path(twin.log_folder).rglob("*"):
        if path.is_file() and f"dag_id={DAG_ID}" in str(path) and run_id in str(path):
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


@pytest.fixture(scope="module")
def fresh_airflow_db(twin):
    """Fresh, migrated Airflow metadata DBs in the twin's cluster (one migration, then template copies)."""
    AirflowDB(create_database(twin.metadb_dsn, TEMPLATE_DB)).migrate()
    made: list[str] = []

    def make() -> AirflowDB:
        name = f"pk_export_restore_{uuid.uuid4().hex[:6]}"
        made.append(name)
        return AirflowDB(create_database(twin.metadb_dsn, name, template=TEMPLATE_DB))

    yield make
    for name in [*made, TEMPLATE_DB]:
        drop_database(twin.metadb_dsn, name)


def _decrypt_with_the_cli(twin, url: str, out: Path) -> None:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_PLATFORM_KIT_EXPORT_KEY"):
            env.setenv(name, twin.airflow_env[name])
        argv = ["export", "decrypt", url, "--key-conn", "platform_kit_export_key"]
        assert main([*argv, "--out", str(out)]) == 0


@pytest.fixture(scope="module", params=MODES)
def exported(request, twin, seeded: Content, tmp_path_factory):
    """One export run of the seeded twin per mode, decrypted with the CLI: (mode, run_id, summary, dir,
    Slack messages posted during the run). db mode is also asked to post its summary to Slack."""
    mode = request.param
    prefix = f"e2e-export-{mode}-{uuid.uuid4().hex[:8]}"
    conf = {"destination": f"s3://{BUCKET}/{prefix}", "mode": mode}
    if mode == "db":
        conf["slack_conn_id"] = "slack_default"
    twin.clear_receiver()
    run_id, run = _run(twin, conf)
    assert run["state"] == "success", _all_logs(twin, run_id)[-3000:]
    posted = twin.receiver_messages()
    summary = twin.xcom(DAG_ID, run_id, "export")
    keys = sorted(_objects(twin, prefix))
    assert len(keys) == 2 and keys[0].endswith("/manifest.json") and keys[1].endswith(".pkexp"), keys

    out = tmp_path_factory.mktemp(f"export-{mode}") / "restore"
    _decrypt_with_the_cli(twin, summary["destination"], out)
    return mode, run_id, summary, out, posted


def test_export_round_trips_every_field_into_a_fresh_airflow_and_logs_no_secret(
    twin, seeded: Content, exported, fresh_airflow_db
):
    mode, run_id, summary, out, _ = exported
    assert summary["mode"] == mode
    assert summary["encryption"].startswith("AES-256-GCM")
    assert summary["variables"] >= 200 and summary["connections"] >= 50
    assert summary["destination"].startswith(f"s3://{BUCKET}/e2e-export-{mode}-")

    target = fresh_airflow_db()
    result = restore.import_with_cli(out, "fail", env=target.env)
    assert result["variables"] == summary["variables"]
    restored = target.dump()

    mine = Content(
        variables={k: restored.variables.get(k) for k in seeded.variables if k in restored.variables},
        connections={k: restored.connections[k] for k in seeded.connections if k in restored.connections},
    )
    # Airflow resolves reads through env vars first, server side too, so the sdk mode exports a stored
    # variable that an env var shadows with the override's value, and lists it (a documented limit).
    # The db mode reads the stored row.
    shadowed = mine.variables.pop(SHADOWED_KEY)
    if mode == "sdk":
        assert SHADOWED_KEY in summary["shadowed_by_env_var"]["names"]
        assert shadowed["value"] == twin.airflow_env["AIRFLOW_VAR_PLATFORM_KIT_BACKUP_URL"]
    else:
        assert "shadowed_by_env_var" not in summary
        assert shadowed == seeded.variables[SHADOWED_KEY]
        assert summary["decrypt_seconds"] >= 0  # the rows were Fernet tokens, decrypted in the child
    expected = Content(
        variables={k: v for k, v in seeded.variables.items() if k != SHADOWED_KEY},
        connections=seeded.connections,
    )
    assert differences(expected, mine) == []
    assert len(restored.variables) == summary["variables"]
    assert len(restored.connections) == summary["connections"]

    logs = _all_logs(twin, run_id)
    assert "Variable and connection export" in logs and "variables: " in logs
    leaked = [secret[:12] + "..." for secret in seeded.secrets() if secret in logs]
    leaked += [m for m in _markers(seeded) if m in logs]
    assert leaked == []
    assert "pkS3cret" not in json.dumps(summary)


def test_the_summary_goes_to_slack_only_when_slack_conn_id_is_set(exported):
    mode, _, summary, _, posted = exported
    texts = [json.dumps(message) for message in posted]
    mine = [t for t in texts if "Variable and connection export" in t]
    if mode == "db":  # triggered with slack_conn_id=slack_default
        assert len(mine) == 1, texts
        assert summary["sha256"] in mine[0] and "pkS3cret" not in mine[0]
    else:
        assert mine == []


def _markers(content: Content) -> list[str]:
    import re

    return sorted(set(re.findall(r"pkS3cret[A-Za-z]+\d*x?[0-9a-f]*", json.dumps(content.__dict__))))


def test_plaintext_export_needs_the_param_and_says_so(twin):
    prefix = f"e2e-export-plain-{uuid.uuid4().hex[:8]}"
    run_id, run = _run(twin, {"destination": f"s3://{BUCKET}/{prefix}", "encrypt": False})
    assert run["state"] == "success"
    summary = twin.xcom(DAG_ID, run_id, "export")
    assert summary["encryption"].startswith("PLAINTEXT")
    assert "PLAINTEXT" in _all_logs(twin, run_id)
    assert any(k.endswith("variables-connections.json") for k in _objects(twin, prefix))


@pytest.mark.parametrize(
    "conf, connection, expected",
    [
        ({"destination": "ftp://platform-kit-backups/x"}, None, "unsupported storage scheme 'ftp'"),
        (
            {"key_conn_id": "pk_e2e_missing_key"},
            None,
            "connection 'pk_e2e_missing_key' (export key) not found: create it with a key from",
        ),
        (
            {"key_conn_id": "pk_e2e_bad_key"},
            {"connection_id": "pk_e2e_bad_key", "conn_type": "generic", "password": "not-a-key"},
            "is not a base64-encoded 32-byte key",
        ),
        (
            {"mode": "sdk", "api_conn_id": "pk_e2e_bad_login"},
            {
                "connection_id": "pk_e2e_bad_login",
                "conn_type": "http",
                "host": "API",
                "login": "platform-kit-api",
                "password": "wrong",
            },
            "rejected the service-account credentials of connection 'pk_e2e_bad_login'",
        ),
        (
            {"mode": "sdk", "api_conn_id": "pk_e2e_dead_api"},
            {
                "connection_id": "pk_e2e_dead_api",
                "conn_type": "http",
                "host": "http://127.0.0.1:9",
                "login": "a",
                "password": "b",
            },
            "cannot reach the Airflow API at http://127.0.0.1:9",
        ),
        (
            {"metadb_conn_id": "pk_e2e_missing_metadb"},
            None,
            "connection 'pk_e2e_missing_metadb' (metadata DB for export mode db) not found: create it",
        ),
    ],
    ids=[
        "unknown-scheme",
        "missing-key-connection",
        "bad-key",
        "wrong-service-account",
        "unreachable-api",
        "missing-metadb-connection",
    ],
)
def test_bad_input_fails_in_one_line_and_uploads_nothing(twin, conf, connection, expected):
    prefix = f"e2e-export-bad-{uuid.uuid4().hex[:8]}"
    conf = {"destination": f"s3://{BUCKET}/{prefix}", **conf}
    if connection:
        if connection.get("host") == "API":
            connection = {**connection, "host": twin.api_url}
        twin.api.delete(twin.url(f"connections/{connection['connection_id']}"), timeout=REQUEST_TIMEOUT)
        twin.create_connection(connection)
    run_id, run = _run(twin, conf)
    assert run["state"] == "failed"
    log = twin.task_log(DAG_ID, run_id, "export")
    assert expected in log
    assert _objects(twin, prefix) == []


@pytest.fixture
def garbled_variable(twin):
    """A variable whose stored value is not a token of the twin's Fernet key (removed afterwards)."""
    import psycopg

    key = f"pk_e2e_garbled_{uuid.uuid4().hex[:6]}"
    token = "gAAAAABinvalid-token-pkS3cretGarbled"
    with psycopg.connect(twin.metadb_dsn, autocommit=True) as conn:
        row_id = conn.execute(
            "INSERT INTO variable (key, val, is_encrypted) VALUES (%s, %s, true) RETURNING id", (key, token)
        ).fetchone()[0]
    yield key, row_id
    with psycopg.connect(twin.metadb_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM variable WHERE id = %s", (row_id,))


def test_db_mode_names_a_row_it_cannot_decrypt_and_uploads_nothing(twin, garbled_variable):
    key, row_id = garbled_variable
    prefix = f"e2e-export-garbled-{uuid.uuid4().hex[:8]}"
    run_id, run = _run(twin, {"destination": f"s3://{BUCKET}/{prefix}", "mode": "db"})
    assert run["state"] == "failed"
    log = twin.task_log(DAG_ID, run_id, "export")
    assert f"variable '{key}' (id {row_id})" in log
    assert "cannot be decrypted with [core] fernet_key" in log and "nothing was exported" in log
    assert "pkS3cretGarbled" not in log
    assert _objects(twin, prefix) == []


#: What docs/export.md tells an operator to set for `platform-kit export create` in a plain shell.
README_VARIABLES = (
    "AIRFLOW_CONN_AIRFLOW_METADB",
    "AIRFLOW_CONN_PLATFORM_KIT_EXPORT_KEY",
    "AIRFLOW_CONN_AWS_DEFAULT",
    "AIRFLOW__CORE__FERNET_KEY",
)


def test_export_create_from_a_plain_shell_exports_the_stored_rows(twin, seeded: Content, tmp_path):
    shell = plain_shell(tmp_path)
    url = f"s3://{BUCKET}/e2e-export-cli-{uuid.uuid4().hex[:8]}"
    result = shell.run(
        "export", "create", "--to", url, "--json", env={n: twin.airflow_env[n] for n in README_VARIABLES}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["mode"] == "db" and summary["encryption"].startswith("AES-256-GCM")
    assert summary["variables"] >= 200 and summary["connections"] >= 50
    assert summary["destination"].startswith(f"{url}/") and summary["manifest"].endswith("/manifest.json")
    assert re.search(r"read \d+ variables and \d+ connections", result.stderr), result.stderr[-2000:]
    leaked = [s[:12] for s in seeded.secrets() if s in result.stdout + result.stderr]
    assert leaked == [] and "pkS3cret" not in result.stdout + result.stderr
    shell.assert_no_side_effects()

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_CONN_AWS_DEFAULT", twin.airflow_env["AIRFLOW_CONN_AWS_DEFAULT"])
        artifact, manifest = download(summary["destination"])
    key = crypto.parse_key(json.loads(twin.airflow_env["AIRFLOW_CONN_PLATFORM_KIT_EXPORT_KEY"])["password"])
    document = parse_bundle(crypto.decrypt(artifact, key))
    assert manifest["counts"] == {"variables": summary["variables"], "connections": summary["connections"]}
    assert document["source"]["mode"] == "db"
    exported = Content(
        variables={
            k: {"value": v, "description": None} if isinstance(v, str) else v
            for k, v in document["variables"].items()
            if k in seeded.variables
        },
        connections={k: c for k, c in document["connections"].items() if k in seeded.connections},
    )
    assert differences(seeded, exported) == []  # the shadowed variable included: the stored row


def test_export_create_without_the_fernet_key_fails_in_one_line_and_uploads_nothing(twin, seeded, tmp_path):
    shell = plain_shell(tmp_path)
    prefix = f"e2e-export-cli-nokey-{uuid.uuid4().hex[:8]}"
    env = {n: twin.airflow_env[n] for n in README_VARIABLES if n != "AIRFLOW__CORE__FERNET_KEY"}
    line = one_error_line(shell.run("export", "create", "--to", f"s3://{BUCKET}/{prefix}", env=env))
    assert re.search(r"\d+ stored values are Fernet-encrypted but \[core\] fernet_key is empty", line), line
    assert "AIRFLOW__CORE__FERNET_KEY" in line and "mode=sdk" in line
    assert _objects(twin, prefix) == []
    shell.assert_no_side_effects()


@pytest.mark.parametrize("exported", ["db"], indirect=True)
def test_platform_kit_import_via_rest_skips_or_overwrites_existing(
    twin, seeded: Content, exported, monkeypatch
):
    _, _, _, out, _ = exported
    gone = sorted(seeded.variables)[:3]
    changed_var = sorted(seeded.variables)[3]
    changed_conn = sorted(seeded.connections)[0]
    _bulk(twin, "variables", gone, action="delete")
    twin.set_variable(changed_var, "changed by an operator")
    twin.api.patch(
        twin.url(f"connections/{changed_conn}"),
        json={"connection_id": changed_conn, "conn_type": "generic", "host": "changed"},
        params={"update_mask": ["host"]},
        timeout=REQUEST_TIMEOUT,
    ).raise_for_status()
    monkeypatch.setenv("PK_E2E_TWIN_PASSWORD", "airflow")
    api = [
        "--via",
        "rest",
        "--api-url",
        twin.api_url,
        "--api-user",
        "airflow",
        "--api-password-env",
        "PK_E2E_TWIN_PASSWORD",
    ]

    assert main(["export", "import", str(out), *api, "--on-existing", "fail"]) == 2  # everything else exists
    assert main(["export", "import", str(out), *api, "--on-existing", "skip"]) == 0
    rows = dump_rows(twin.airflow_env)
    assert rows.variables[gone[0]] == seeded.variables[gone[0]]
    assert rows.variables[changed_var]["value"] == "changed by an operator"
    assert rows.connections[changed_conn]["host"] == "changed"

    assert main(["export", "import", str(out), *api, "--on-existing", "overwrite"]) == 0
    rows = dump_rows(twin.airflow_env)
    restored = Content(
        variables={k: rows.variables[k] for k in seeded.variables if k != SHADOWED_KEY},
        connections={k: rows.connections[k] for k in seeded.connections},
    )
    expected = Content(
        variables={k: v for k, v in seeded.variables.items() if k != SHADOWED_KEY},
        connections=seeded.connections,
    )
    assert differences(expected, restored) == []


def test_a_rest_import_that_stops_part_way_says_what_is_in_and_a_rerun_finishes(
    twin, tmp_path, monkeypatch, capsys
):
    """Each bulk request is its own transaction on the server: when one fails (here a host longer than
    its column, which only the database knows), the variables are in and the connections are not. The
    import used to end in an error that said neither, and the rerun it suggested refused everything."""
    prefix = f"pk_e2e_partial_{uuid.uuid4().hex[:6]}"
    variables = {f"{prefix}_var_{i}": f"value {i}" for i in range(5)}
    good = {
        "conn_type": "http",
        "host": "api.example.com",
        "port": 443,
        "login": "svc",
        "password": "pkS3cretP",
    }
    connections = {f"{prefix}_conn_0": good, f"{prefix}_conn_1": {**good, "host": "h" * 600}}
    out = tmp_path / "restore"
    out.mkdir()
    (out / "variables.json").write_text(json.dumps(variables))
    (out / "connections.json").write_text(json.dumps(connections))
    monkeypatch.setenv("PK_E2E_TWIN_PASSWORD", "airflow")
    api = ["--via", "rest", "--api-url", twin.api_url, "--api-user", "airflow"]
    api += ["--api-password-env", "PK_E2E_TWIN_PASSWORD"]
    try:
        assert main(["export", "import", str(out), *api]) == 2
        captured = capsys.readouterr()
        report = json.loads(captured.out)
        assert report["complete"] is False
        assert sorted(report["imported"]["written"]["variables"]) == sorted(variables)
        assert report["imported"]["written"]["connections"] == []
        assert sorted(report["imported"]["not_written"]["connections"]) == sorted(connections)
        (line,) = [x for x in captured.err.splitlines() if x.startswith("platform-kit: error:")]
        assert "wrote 5 variables and 0 connections, not 0 variables and 2 connections" in line
        assert "rerun with --on-existing skip" in line
        rows = dump_rows(twin.airflow_env)
        assert set(variables) <= set(rows.variables) and not set(connections) & set(rows.connections)

        connections[f"{prefix}_conn_1"]["host"] = "api.example.org"
        (out / "connections.json").write_text(json.dumps(connections))
        assert main(["export", "import", str(out), *api, "--on-existing", "skip"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["complete"] is True and report["imported"]["connections"] == 2
        assert report["imported"]["variables_skipped_existing"] == 5
        rows = dump_rows(twin.airflow_env)
        assert rows.connections[f"{prefix}_conn_1"]["host"] == "api.example.org"
        assert {k: rows.variables[k]["value"] for k in variables} == variables
    finally:
        _bulk(twin, "variables", list(variables), action="delete")
        _bulk(twin, "connections", list(connections), action="delete")

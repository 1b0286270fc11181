"""Export file format and encryption: what `airflow variables|connections import` will read back."""

from __future__ import annotations

import json

import pytest

from platform_kit.exceptions import ExportError
from platform_kit.export import crypto
from platform_kit.export.format import (
    ExportContent,
    build_bundle,
    connection_entry,
    parse_bundle,
    split_variable_entry,
    variable_entry,
    write_import_files,
)

pytestmark = pytest.mark.unit

KEY = crypto.parse_key(crypto.generate_key())


def _bundle(**variables) -> bytes:
    content = ExportContent(variables=variables)
    return build_bundle(content, created_at="2026-11-21T00:00:00Z", source={"mode": "sdk"})


def test_wrong_key_fails_loudly_and_names_both_fingerprints():
    sealed = crypto.encrypt(_bundle(a="1"), KEY)
    other = crypto.parse_key(crypto.generate_key())
    with pytest.raises(crypto.ExportKeyError, match="wrong key") as exc:
        crypto.decrypt(sealed, other)
    assert crypto.key_fingerprint(KEY) in str(exc.value)
    assert crypto.key_fingerprint(other) in str(exc.value)


@pytest.mark.parametrize("compress", [True, False])
def test_every_single_byte_change_is_detected(compress):
    payload = _bundle(token="s3cr3t-value", note="x" * 50)
    sealed = crypto.encrypt(payload, KEY, compress=compress)
    assert crypto.decrypt(sealed, KEY) == payload
    assert b"s3cr3t-value" not in sealed
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(ExportError):
            crypto.decrypt(bytes(tampered), KEY)


def test_truncated_and_foreign_files_are_rejected():
    sealed = crypto.encrypt(_bundle(a="1"), KEY)
    with pytest.raises(crypto.ExportDecryptionError, match="modified or truncated"):
        crypto.decrypt(sealed[:-1], KEY)
    with pytest.raises(crypto.ExportDecryptionError, match="magic"):
        crypto.decrypt(b'{"format": "platform-kit-export"}', KEY)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "not base64 at all!", "c2hvcnQ=", crypto.generate_key()[:-4]],
)
def test_malformed_keys_are_refused_with_a_fix(text):
    with pytest.raises(crypto.ExportKeyError, match="generate"):
        crypto.parse_key(text, source="the password of connection 'k'")


def test_key_accepts_standard_and_urlsafe_base64_without_padding():
    raw = bytes(range(250, 256)) * 5 + b"\xfb\xff"
    import base64

    assert crypto.parse_key(base64.b64encode(raw).decode()) == raw
    assert crypto.parse_key(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw


def test_fingerprint_is_stable_and_reveals_nothing_of_the_key():
    fingerprint = crypto.key_fingerprint(KEY)
    assert fingerprint == crypto.key_fingerprint(KEY)
    assert len(fingerprint) == 32
    assert KEY.hex()[:8] not in fingerprint
    assert crypto.file_fingerprint(crypto.encrypt(b"{}", KEY)) == fingerprint


# Values whose stored text must come back byte for byte through `airflow variables import`.
ENVELOPE_EDGE_CASES = [
    "plain",
    "",
    '{"a":1}',  # JSON text: must stay compact, not be re-indented
    '{"value": "x", "description": "looks like an envelope"}',
    '{"value": 1}',
    '"quoted"',
    "1e3",
    " 5",
    "null",
    "true",
    "[1, 2]",
    "ünïcødé ✓\nline two\r\n\ttab",
]


@pytest.mark.parametrize("value", ENVELOPE_EDGE_CASES)
@pytest.mark.parametrize("description", [None, "", "what it is ✓"])
def test_variable_entries_round_trip_through_the_import_rules(value, description):
    entry = json.loads(json.dumps(variable_entry(value, description)))
    # airflow/cli/commands/variable_command.py::variables_import
    stored, stored_description = entry, None
    if isinstance(entry, dict) and "value" in entry:
        stored, stored_description = entry["value"], entry.get("description")
    assert isinstance(stored, str), "a non-string would be re-serialised with json.dumps(indent=2)"
    assert (stored, stored_description) == (value, description)
    assert split_variable_entry(entry) == (value, description)


def test_cli_style_json_entries_are_read_as_airflow_stores_them():
    assert split_variable_entry({"value": {"a": 1}, "description": "d"}) == ('{\n  "a": 1\n}', "d")
    assert split_variable_entry(3) == ("3", None)


class _Conn:
    conn_type = "postgres"
    host = "db.example"
    login = "ü:@/%#"
    password = "p:@/%#ü"
    schema = "warehouse"
    port = "5432"
    extra = '{"b": 1,  "a": {"nested": true}}'


def test_connection_entry_keeps_every_field_and_extra_text():
    entry = connection_entry(_Conn(), "the warehouse")
    assert entry == {
        "conn_type": "postgres",
        "description": "the warehouse",
        "host": "db.example",
        "login": "ü:@/%#",
        "password": "p:@/%#ü",
        "schema": "warehouse",
        "port": 5432,
        "extra": '{"b": 1,  "a": {"nested": true}}',
    }


def test_bundle_round_trip_and_import_files(tmp_path):
    content = ExportContent(
        variables={"k": variable_entry("v\n", "d")},
        connections={"c": connection_entry(_Conn(), None)},
    )
    document = parse_bundle(build_bundle(content, created_at="t", source={"mode": "sdk"}))
    paths = write_import_files(document, tmp_path / "out")
    assert [p.name for p in paths] == ["variables.json", "connections.json"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in paths)
    assert json.loads(paths[0].read_text()) == {"k": {"value": "v\n", "description": "d"}}
    assert json.loads(paths[1].read_text())["c"]["password"] == "p:@/%#ü"
    paths[1].read_text(encoding="ascii")  # readable under any locale
    with pytest.raises(ExportError, match="refusing to overwrite"):
        write_import_files(document, tmp_path / "out")


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\xff", "not a platform-kit export"),
        (b"[]", "format marker"),
        (b'{"format": "platform-kit-export", "version": 99}', "version 99"),
        (b'{"format": "platform-kit-export", "version": 1, "variables": {}}', "connections"),
        (
            b'{"format": "platform-kit-export", "version": 1, "variables": {}, '
            b'"connections": {"c": {"x": 1}}}',
            "unexpected fields",
        ),
    ],
)
def test_bad_documents_are_rejected(raw, message):
    with pytest.raises(ExportError, match=message):
        parse_bundle(raw)


def _flip(data: bytes, bit: int) -> bytes:
    damaged = bytearray(data)
    damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


def test_a_flipped_bit_in_the_header_reads_as_damage_never_as_a_wrong_key():
    """The header's key fingerprint used to be compared first, so one flipped bit there said "wrong key"
    and sent the operator looking for another key instead of another copy of the file."""
    sealed = crypto.encrypt(_bundle(a="1"), KEY)
    fingerprint = range(len(crypto.MAGIC) + 1, len(crypto.MAGIC) + 1 + crypto.FINGERPRINT_BYTES)
    for bit in range(crypto._HEADER_BYTES * 8):
        with pytest.raises(crypto.ExportDecryptionError) as exc:
            crypto.decrypt(_flip(sealed, bit), KEY)
        if bit // 8 in fingerprint or bit // 8 < len(crypto.MAGIC):
            assert "header is damaged" in str(exc.value)
    # A really different key is still called one.
    with pytest.raises(crypto.ExportKeyError, match="wrong key"):
        crypto.decrypt(_flip(sealed, 8 * (len(crypto.MAGIC) + 1)), crypto.parse_key(crypto.generate_key()))


def _sealed_files(tmp_path):
    key_file = tmp_path / "key"
    key_text = crypto.generate_key()
    key_file.write_text(key_text)
    sealed = tmp_path / "export.pkexp"
    sealed.write_bytes(crypto.encrypt(_bundle(token="pkS3cret-plaintext"), crypto.parse_key(key_text)))
    return sealed, key_file


def test_decrypt_of_a_damaged_header_says_so_in_one_line_and_writes_nothing(tmp_path, capsys):
    from platform_kit.cli import main

    sealed, key_file = _sealed_files(tmp_path)
    sealed.write_bytes(_flip(sealed.read_bytes(), 8 * (len(crypto.MAGIC) + 3)))  # in the fingerprint
    out = tmp_path / "out"
    assert main(["export", "decrypt", str(sealed), "--key-file", str(key_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("platform-kit: error: the export's header is damaged") and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize("taken", ["variables.json", "connections.json"])
def test_decrypt_into_a_name_taken_by_a_directory_leaves_no_plaintext(tmp_path, capsys, taken):
    from platform_kit.cli import main

    sealed, key_file = _sealed_files(tmp_path)
    out = tmp_path / "out"
    (out / taken).mkdir(parents=True)
    for extra in ([], ["--force"]):
        argv = ["export", "decrypt", str(sealed), "--key-file", str(key_file), "--out", str(out), *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("platform-kit: error: ") and "is not a regular file" in err and "\n" not in err
        assert [p.name for p in out.iterdir()] == [taken]  # nothing written, not even a temporary file
    # An --out that is a file is refused the same way.
    argv = ["export", "decrypt", str(sealed), "--key-file", str(key_file), "--out", str(key_file)]
    assert main(argv) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_import_files_are_checked_whole_before_anything_is_written():
    from platform_kit.export.format import check_importable

    good = {"conn_type": "postgres", "host": "db", "port": 5432, "extra": '{"a": 1}'}
    check_importable(
        {"k": "v", "j": {"value": [1, 2], "description": None}}, {"db": good, "p": {**good, "port": "5432"}}
    )
    bad = {
        "db": {**good, "port": "notaport"},
        "no type": {**good, "conn_type": None},
        "x": {**good, "extra": "[1, 2]"},
        "y": {**good, "host": 5},
    }
    with pytest.raises(ExportError) as exc:
        check_importable({"fine": "value"}, bad)
    message = str(exc.value)
    assert "\n" not in message and "nothing was imported" in message
    assert "connection 'db': port 'notaport' is not a whole number" in message
    assert "(and 2 more)" in message  # four connections, five problems: the first three are shown

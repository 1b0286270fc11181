"""``platform-kit export``: create an export, generate a key, decrypt an export into import-ready files,
restore them."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from platform_kit.cli import (
    add_metadb_arguments,
    metadb_source_from_args,
    metadb_url_from_args,
    print_result,
)
from platform_kit.defaults import (
    API_CONN_ID,
    AWS_CONN_ID,
    EXPORT_KEY_CONN_ID,
    GOOGLE_CONN_ID,
    KEEP_DAILY,
    KEEP_MONTHLY,
    KEEP_WEEKLY,
)
from platform_kit.exceptions import ConfigurationError, ExportError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export create|generate-key|decrypt|import`` to the ``platform-kit`` parser."""
    parser = subparsers.add_parser("export", help="variable/connection exports: create, decrypt and restore")
    commands = parser.add_subparsers(dest="export_command", metavar="SUBCOMMAND", required=True)
    _add_create(commands)

    gen = commands.add_parser("generate-key", help="print a new export key (put it in the key Connection)")
    gen.set_defaults(handler=_generate_key)

    dec = commands.add_parser(
        "decrypt",
        help="decrypt an export into variables.json and connections.json for `airflow ... import`",
        description="FILE is a local path or an s3:// / gs:// URL of the .pkexp artifact.",
    )
    dec.add_argument("file", metavar="FILE")
    _add_key_arguments(dec)
    dec.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for the two files")
    dec.add_argument("--force", action="store_true", help="overwrite existing files in DIR")
    dec.set_defaults(handler=_decrypt)

    imp = commands.add_parser(
        "import",
        help="restore an export into an Airflow (airflow CLI or REST API)",
        description="SOURCE is a directory written by `export decrypt`, or an export file/URL (then pass "
        "a key option). --via cli uses this environment's Airflow (its DB URL and Fernet key); "
        "--via rest writes through the target's REST API.",
    )
    imp.add_argument("source", metavar="SOURCE")
    _add_key_arguments(imp, required=False)
    imp.add_argument(
        "--on-existing",
        choices=("overwrite", "skip", "fail"),
        default="fail",
        help="what to do with keys/ids that already exist (default: fail, before writing anything)",
    )
    imp.add_argument("--via", choices=("cli", "rest"), default="cli")
    imp.add_argument(
        "--api-conn",
        metavar="CONN_ID",
        help=f"--via rest: http Connection with host = API URL, login/password (default {API_CONN_ID})",
    )
    imp.add_argument("--api-url", help="--via rest: API base URL (instead of --api-conn)")
    imp.add_argument("--api-user", help="--via rest: user name (with --api-url)")
    imp.add_argument(
        "--api-password-env",
        metavar="NAME",
        help="--via rest: environment variable holding the password (with --api-url)",
    )
    imp.set_defaults(handler=_import)


def _add_create(commands: argparse._SubParsersAction) -> None:
    create = commands.add_parser(
        "create",
        help="export every variable and connection to s3://... or gs://... (the DAG's db mode)",
        description="Read every variable and connection of the metadata DB, decrypt them with this "
        "environment's [core] fernet_key (AIRFLOW__CORE__FERNET_KEY), encrypt the export with the export "
        "key, upload it with a manifest and apply retention: the platform_kit_export DAG's engine and "
        "summary, in db mode (the sdk mode needs a running task).",
    )
    create.add_argument("--to", required=True, metavar="URL", help="s3://bucket/prefix or gs://bucket/prefix")
    key = create.add_mutually_exclusive_group()
    key.add_argument(
        "--key-conn",
        metavar="CONN_ID",
        help=f"Connection whose password is the export key (default {EXPORT_KEY_CONN_ID})",
    )
    key.add_argument("--key-env", metavar="NAME", help="environment variable holding the export key")
    key.add_argument("--key-file", type=Path, metavar="PATH", help="file holding the export key")
    key.add_argument("--plaintext", action="store_true", help="do not encrypt: a PLAINTEXT export")
    add_metadb_arguments(create)
    create.add_argument(
        "--aws-conn-id", default=AWS_CONN_ID, help="Connection for s3:// (default %(default)s)"
    )
    create.add_argument(
        "--google-conn-id", default=GOOGLE_CONN_ID, help="Connection for gs:// (default %(default)s)"
    )
    for period, default in (("daily", KEEP_DAILY), ("weekly", KEEP_WEEKLY), ("monthly", KEEP_MONTHLY)):
        create.add_argument(
            f"--keep-{period}",
            type=int,
            default=default,
            metavar="N",
            help=f"retention: newest export of each of the last N {period} periods (default {default})",
        )
    create.add_argument("--dry-run", action="store_true", help="collect and encrypt only: upload nothing")
    create.add_argument(
        "--slack-conn-id", metavar="CONN_ID", help="also post the summary to this Slack connection"
    )
    create.add_argument("--json", action="store_true", help="print the summary as JSON")
    create.set_defaults(handler=_create)


def _add_key_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--storage-conn",
        metavar="CONN_ID",
        help="aws / google_cloud_platform Connection for s3:// or gs:// sources (default: the default one)",
    )
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--key-conn",
        metavar="CONN_ID",
        help="Connection whose password is the key (env vars / secrets backends)",
    )
    group.add_argument("--key-env", metavar="NAME", help="environment variable holding the key")
    group.add_argument("--key-file", type=Path, metavar="PATH", help="file holding the key")


def _load_key(args: argparse.Namespace) -> bytes | None:
    from platform_kit.export import keys

    if args.key_conn:
        return keys.key_from_connection(args.key_conn)
    if args.key_env:
        return keys.key_from_env(args.key_env)
    if args.key_file:
        return keys.key_from_file(args.key_file)
    return None


def _read_source(location: str, storage_conn: str | None) -> tuple[bytes, dict[str, Any] | None]:
    """The artifact's bytes and, for a storage URL, its manifest (``None`` if there is none)."""
    if "://" not in location:
        try:
            return Path(location).read_bytes(), None
        except OSError as exc:
            raise ExportError(f"cannot read {location}: {exc.strerror}") from None
    from platform_kit.export.publish import download

    return download(location, storage_conn_id=storage_conn)


def _open_document(args: argparse.Namespace, location: str) -> dict[str, Any]:
    import hashlib

    from platform_kit.export import crypto
    from platform_kit.export.format import parse_bundle

    data, manifest = _read_source(location, args.storage_conn)
    if manifest is not None and manifest.get("sha256") != hashlib.sha256(data).hexdigest():
        raise ExportError(f"{location} does not match the sha256 in its manifest; the upload is damaged")
    key = _load_key(args)
    if crypto.is_encrypted(data):
        if key is None:
            raise ConfigurationError(f"{location} is encrypted; pass --key-conn, --key-env or --key-file")
        data = crypto.decrypt(data, key)
    return parse_bundle(data)


def _create(args: argparse.Namespace) -> int:
    import sys

    from platform_kit.export.collect import collect_from_db
    from platform_kit.export.engine import export_to, title_for
    from platform_kit.export.keys import key_from_connection
    from platform_kit.summary import report

    url = metadb_url_from_args(args)
    if args.plaintext:
        key = None
        print(
            "--plaintext: this export is PLAINTEXT; anyone who can read the destination reads every secret",
            file=sys.stderr,
        )
    else:
        key = _load_key(args) or key_from_connection(EXPORT_KEY_CONN_ID)
    source = metadb_source_from_args(args)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    summary = export_to(
        args.to,
        lambda: collect_from_db(url, source=source, output=progress),
        mode="db",
        key=key,
        dry_run=args.dry_run,
        keep_daily=args.keep_daily,
        keep_weekly=args.keep_weekly,
        keep_monthly=args.keep_monthly,
        aws_conn_id=args.aws_conn_id,
        google_conn_id=args.google_conn_id,
    )
    title = title_for(summary)
    if args.slack_conn_id:
        report(title, summary, slack_conn_id=args.slack_conn_id)
    print_result(args.results, title, summary, as_json=args.json)
    return 0


def _generate_key(args: argparse.Namespace) -> int:
    from platform_kit.export.crypto import generate_key, key_fingerprint, parse_key

    key = generate_key()
    print(key, file=args.results)
    print(
        f"# fingerprint {key_fingerprint(parse_key(key))}; store the key in a Connection's password, "
        "and a copy outside this Airflow",
        file=args.results,
        flush=True,
    )
    return 0


def _decrypt(args: argparse.Namespace) -> int:
    from platform_kit.export.format import write_import_files

    document = _open_document(args, args.file)
    paths = write_import_files(document, args.out, overwrite=args.force)
    print(
        f"wrote {len(document['variables'])} variables to {paths[0]} and "
        f"{len(document['connections'])} connections to {paths[1]} (plaintext secrets: delete after use)",
        file=args.results,
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    import os

    from platform_kit.exceptions import ExportImportError
    from platform_kit.export import restore
    from platform_kit.export.api import AirflowApi
    from platform_kit.export.format import write_import_files

    def api() -> AirflowApi:
        if args.api_url:
            if not (args.api_user and args.api_password_env and args.api_password_env in os.environ):
                raise ConfigurationError(
                    "--api-url needs --api-user and --api-password-env naming a set variable"
                )
            return AirflowApi(
                args.api_url, args.api_user, os.environ[args.api_password_env], conn_id="--api-url"
            )
        from platform_kit.connections import get_connection

        conn_id = args.api_conn or API_CONN_ID
        return AirflowApi.from_connection(get_connection(conn_id, purpose="REST API of the target"))

    source = Path(args.source)
    tmp: Path | None = None
    try:
        if not source.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix="platform-kit-import-"))
            write_import_files(_open_document(args, args.source), tmp)
            source = tmp
        if args.via == "rest":
            outcome = restore.import_with_rest(source, args.on_existing, api())
        else:
            outcome = restore.import_with_cli(source, args.on_existing)
    except ExportImportError as exc:
        # Stopped part-way (REST): stdout says exactly what is in the target now, the error line what next.
        report = {"imported": exc.outcome, "on_existing": args.on_existing, "complete": False}
        print(json.dumps(report, sort_keys=True), file=args.results)
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    report = {"imported": outcome, "on_existing": args.on_existing, "complete": True}
    print(json.dumps(report, sort_keys=True), file=args.results)
    return 0

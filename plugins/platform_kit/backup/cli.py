"""``platform-kit backup create|list|verify|restore``: the DAG's engine, by hand (e.g. before an upgrade)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from platform_kit.backup.engine import DumpOptions, create_backup, describe_fernet, main_table_counts
from platform_kit.backup.source import PgTarget, target_from_connection, target_from_dsn
from platform_kit.cli import print_result
from platform_kit.defaults import (
    AWS_CONN_ID,
    BACKUP_COMPRESS_LEVEL,
    BACKUP_EXCLUDE_TABLE_DATA,
    BACKUP_LOCK_WAIT_TIMEOUT_SECONDS,
    GOOGLE_CONN_ID,
    METADB_CONN_ID,
)
from platform_kit.exceptions import BackupError
from platform_kit.utils import human_bytes


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("backup", help="back up, list, verify and restore the metadata DB")
    commands = parser.add_subparsers(dest="backup_command", metavar="COMMAND", required=True)

    def storage_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--aws-conn-id", default=AWS_CONN_ID, help="connection for s3:// URLs")
        p.add_argument("--google-conn-id", default=GOOGLE_CONN_ID, help="connection for gs:// URLs")
        p.add_argument(
            "--request-checksum-calculation",
            choices=["when_supported", "when_required"],
            default=None,
            help="S3-compatible stores that reject boto3's default checksums need when_required",
        )
        p.add_argument("--pg-bin-dir", default=None, help="directory with pg_dump/pg_restore (default: PATH)")
        p.add_argument("--json", action="store_true", help="print the result as JSON")

    create = commands.add_parser("create", help="dump the metadata DB to s3://... or gs://...")
    create.add_argument(
        "--to", required=True, metavar="URL", help="destination prefix, s3://bucket/prefix or gs://..."
    )
    source = create.add_mutually_exclusive_group()
    source.add_argument(
        "--conn-id", default=METADB_CONN_ID, help="postgres connection of the DB (default: %(default)s)"
    )
    source.add_argument(
        "--dsn",
        help="postgresql://user@host:port/db instead of a connection; prefer PGPASSWORD "
        "in the environment over a password in the DSN",
    )
    create.add_argument(
        "--exclude-table-data",
        action="append",
        metavar="PATTERN",
        help=f"tables whose rows are skipped (repeatable; default {' '.join(BACKUP_EXCLUDE_TABLE_DATA)})",
    )
    create.add_argument(
        "--lock-wait-timeout", type=int, default=BACKUP_LOCK_WAIT_TIMEOUT_SECONDS, metavar="SECONDS"
    )
    create.add_argument(
        "--compress-level",
        type=int,
        choices=range(10),
        default=BACKUP_COMPRESS_LEVEL,
        metavar="0-9",
        help=f"zlib level (default {BACKUP_COMPRESS_LEVEL})",
    )
    create.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="re-read and check the backup afterwards (default: on)",
    )
    storage_args(create)
    create.set_defaults(handler=_create)

    listing = commands.add_parser("list", help="backups under a prefix, with their manifests")
    listing.add_argument("url", metavar="URL")
    storage_args(listing)
    listing.set_defaults(handler=_list)

    verify = commands.add_parser("verify", help="check a backup's SHA-256 and table of contents")
    verify.add_argument("url", metavar="URL", help="a backup set (or a prefix: its newest backup)")
    scratch = verify.add_mutually_exclusive_group()
    scratch.add_argument(
        "--restore-test-conn-id",
        default=None,
        help="also restore into a scratch DB created beside this postgres connection's database (its role "
        "needs CREATEDB) and compare row counts",
    )
    scratch.add_argument(
        "--restore-test-dsn",
        default=None,
        help="the same with postgresql://user@host:port/db; libpq's PGPASSWORD/PGPASSFILE/PGSSL* apply "
        "(either way, scratch DBs an earlier, killed verify left on that server are dropped)",
    )
    storage_args(verify)
    verify.set_defaults(handler=_verify)

    restore = commands.add_parser("restore", help="restore a backup into an (empty) database")
    restore.add_argument("url", metavar="URL", help="a backup set (or a prefix: its newest verified backup)")
    target = restore.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-conn-id", help="postgres connection of the empty database to restore into")
    target.add_argument(
        "--target-dsn",
        help="postgresql://user@host:port/db to restore into; prefer PGPASSWORD in the environment over a "
        "password in the DSN",
    )
    restore.add_argument(
        "--force",
        action="store_true",
        help="restore even if the target holds user objects (replaces the ones the dump contains)",
    )
    storage_args(restore)
    restore.set_defaults(handler=_restore)


def _store(args: argparse.Namespace, url: str):
    from platform_kit.storage import open_store

    return open_store(
        url,
        aws_conn_id=args.aws_conn_id,
        google_conn_id=args.google_conn_id,
        request_checksum_calculation=args.request_checksum_calculation,
    )


def _print(args: argparse.Namespace, out: TextIO, title: str, data: Any) -> None:
    print_result(out, title, data, as_json=args.json)


def _target(conn_id: str | None, dsn: str | None) -> PgTarget | None:
    """The database a ``--...-conn-id`` or ``--...-dsn`` option names (``None`` when neither is given)."""
    if dsn:
        return target_from_dsn(dsn)
    return target_from_connection(conn_id) if conn_id else None


def _create(args: argparse.Namespace) -> int:
    out: TextIO = args.results
    from platform_kit.backup.restore import verify_backup

    source = _target(args.conn_id, args.dsn)
    store, dest = _store(args, args.to)
    options = DumpOptions(
        exclude_table_data=tuple(args.exclude_table_data)
        if args.exclude_table_data is not None
        else BACKUP_EXCLUDE_TABLE_DATA,
        lock_wait_timeout_s=args.lock_wait_timeout,
        compress_level=args.compress_level,
    )
    manifest = create_backup(source, store, dest, options=options, pg_bin_dir=args.pg_bin_dir)
    set_url = dest.child(manifest["set_id"])
    summary = {
        "backup": str(set_url),
        "size": human_bytes(manifest["size"]),
        "sha256": manifest["sha256"],
        "server_version": manifest["server_version"],
        "alembic_revision": manifest["alembic_revision"],
        "rows": main_table_counts(manifest),
        "fernet_key": describe_fernet(manifest["fernet_key"]),
        "note": "restoring needs the same Fernet key as the source Airflow",
    }
    if args.verify:
        summary["verification"] = verify_backup(
            store, set_url, pg_bin_dir=args.pg_bin_dir, expected_sha256=manifest["sha256"]
        )
    _print(args, out, "Backup created", summary)
    return 0


def _list(args: argparse.Namespace) -> int:
    out: TextIO = args.results
    from platform_kit.storage import list_sets

    store, dest = _store(args, args.url)
    rows = []
    for backup in list_sets(store, dest):
        m = backup.manifest or {}
        rows.append(
            {
                "set": str(backup.url),
                "time": backup.timestamp.isoformat() if backup.timestamp else None,
                "state": "verified" if backup.verified else ("complete" if backup.complete else "INCOMPLETE"),
                "size": m.get("size", backup.size),
                "server_version": m.get("server_version"),
                "airflow_version": m.get("airflow_version"),
                "alembic_revision": m.get("alembic_revision"),
                "fernet_fingerprints": [f[:12] for f in (m.get("fernet_key") or {}).get("fingerprints", [])],
            }
        )
    if args.json:
        _print(args, out, "", rows)
    elif not rows:
        print(f"no backups under {dest}", file=out)
    else:
        for row in rows:
            print(
                f"{row['set']}  {row['state']:<10} {human_bytes(row['size']):>10}  "
                f"PostgreSQL {row['server_version']}  "
                f"Airflow {row['airflow_version']}  alembic {row['alembic_revision']}",
                file=out,
            )
    return 0


def _verify(args: argparse.Namespace) -> int:
    out: TextIO = args.results
    from platform_kit.backup.restore import verify_backup
    from platform_kit.storage import parse_url

    store, _ = _store(args, args.url)
    scratch = _target(args.restore_test_conn_id, args.restore_test_dsn)
    result = verify_backup(store, parse_url(args.url), pg_bin_dir=args.pg_bin_dir, restore_test=scratch)
    _print(args, out, "Backup verified", result)
    return 0


def _restore(args: argparse.Namespace) -> int:
    out: TextIO = args.results
    from platform_kit.backup.restore import restore_backup
    from platform_kit.storage import parse_url

    target = _target(args.target_conn_id, args.target_dsn)
    store, _ = _store(args, args.url)
    result = restore_backup(
        store,
        parse_url(args.url),
        target,
        force=args.force,
        pg_bin_dir=args.pg_bin_dir,
    )
    _print(args, out, "Backup restored", result)
    if result["mismatches"]:
        raise BackupError(
            f"restored, but row counts differ in {len(result['mismatches'])} table(s); inspect the target"
        )
    print(
        "Restored. Airflow needs the same [core] fernet_key as the source to read connections and variables.",
        file=sys.stderr,
    )
    return 0

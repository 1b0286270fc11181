"""Read a backup back: find it, verify it, restore it (into a target or a scratch database).

Restore refuses a target holding any user object (tables, views, sequences, types, functions in any
non-system schema) unless forced. A restore test's scratch database is dropped however the verify ends
(an error, SIGTERM, SIGINT), and one left behind by a run that was SIGKILLed is dropped by the next verify
on that server: while a scratch database is in use, its owner's session holds an advisory lock named
after it, so a scratch database nobody holds a lock on is a leftover.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from platform_kit.backup.engine import MANIFEST_KIND
from platform_kit.backup.pgtools import (
    TABLES_SQL,
    count_rows,
    find_tool,
    qualified_name,
    server_error,
    user_objects,
)
from platform_kit.backup.source import PgTarget
from platform_kit.exceptions import BackupError, StorageConflictError
from platform_kit.interrupts import note_cleanup
from platform_kit.storage import (
    MANIFEST_NAME,
    ObjectStore,
    StorageError,
    StorageURL,
    list_sets,
    read_manifest,
    read_manifest_and_version,
    write_manifest,
)
from platform_kit.storage.base import COPY_CHUNK
from platform_kit.utils import one_line

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "platform_kit_restore_test_"
#: First key of the advisory lock a restore test holds on its scratch database (the second is the
#: ``hashtext`` of the name): "pkrt".
_SCRATCH_LOCK_SPACE = 0x706B7274
_LEFTOVER_SCRATCH_SQL = """
SELECT d.datname FROM pg_database d
 WHERE d.datname LIKE %(pattern)s
   AND NOT EXISTS (SELECT 1 FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.classid::bigint = %(space)s
                      AND l.objsubid = 2 AND l.objid::bigint = (hashtext(d.datname)::bigint & 4294967295))
 ORDER BY 1
"""


def resolve_set(
    store: ObjectStore, url: StorageURL, *, verified_only: bool = False
) -> tuple[StorageURL, dict]:
    """The backup set ``url`` names, and its manifest.

    ``url`` may be a set folder, its ``manifest.json``, or a destination prefix (then the newest
    complete set, or the newest verified one with ``verified_only``).
    """
    if url.prefix.endswith("/" + MANIFEST_NAME) or url.prefix == MANIFEST_NAME:
        url = StorageURL(url.scheme, url.bucket, url.prefix[: -len(MANIFEST_NAME)].rstrip("/"))
    try:
        if store.head(url.key(MANIFEST_NAME)) is not None:
            manifest = read_manifest(store, url)
        else:
            candidates = [s for s in list_sets(store, url) if (s.verified if verified_only else s.complete)]
            if not candidates:
                what = "verified backup" if verified_only else "complete backup (with manifest.json)"
                raise BackupError(f"no {what} under {url}; check the URL or run 'platform-kit backup list'")
            chosen = candidates[-1]
            log.info(
                "using the newest %s backup under %s: %s",
                "verified" if verified_only else "complete",
                url,
                chosen.set_id,
            )
            url, manifest = chosen.url, chosen.manifest or read_manifest(store, chosen.url)
    except StorageError as exc:
        raise BackupError(str(exc)) from exc
    if manifest.get("kind") != MANIFEST_KIND:
        raise BackupError(f"{url} holds a {manifest.get('kind')!r} set, not a metadata-DB backup")
    return url, manifest


def table_counts(target: PgTarget) -> dict[str, int]:
    """Exact row counts of every table in ``target`` (names as in manifests)."""
    counts: dict[str, int] = {}
    with target.connect() as conn, conn.cursor() as cur:
        cur.execute(TABLES_SQL)
        for schema, name in cur.fetchall():
            counts[qualified_name(schema, name)] = count_rows(cur, schema, name)
    return counts


def compare_counts(manifest: dict[str, Any], actual: dict[str, int]) -> dict[str, Any]:
    """Every table of the manifest against ``actual``; tables whose data was excluded must be empty."""
    expected = dict(manifest.get("row_counts") or {})
    for table in manifest.get("excluded_table_data") or []:
        expected[table] = 0
    mismatches = {
        table: {"expected": expected.get(table), "actual": actual.get(table)}
        for table in sorted(set(expected) | set(actual))
        if expected.get(table) != actual.get(table)
    }
    return {"tables": len(expected), "rows": sum(actual.values()), "mismatches": mismatches}


def stream_into(store: ObjectStore, key: str, argv: list[str], target: PgTarget) -> tuple[str, int, str]:
    """Pipe object ``key`` into ``argv``'s stdin, hashing every byte.

    A consumer that stops reading early (``pg_restore --list`` only needs the table of contents) is
    fine: we keep reading to hash the whole object. Returns ``(sha256, size, stdout)``.
    :raises BackupError: the program exited non-zero.
    """
    digest = hashlib.sha256()
    size = 0
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=target.env()
    )
    out: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda name=name, s=s: out.__setitem__(name, s.read()), daemon=True)
        for name, s in (("stdout", proc.stdout), ("stderr", proc.stderr))
    ]
    for thread in readers:
        thread.start()
    assert proc.stdin is not None
    consumer_open = True
    try:
        with store.open_reader(key) as reader:
            while chunk := reader.read(COPY_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if consumer_open:
                    try:
                        proc.stdin.write(chunk)
                    except BrokenPipeError:
                        consumer_open = False
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    except BaseException as exc:
        proc.kill()
        note_cleanup(exc, f"{Path(argv[0]).name} stopped")
        raise
    finally:
        returncode = proc.wait()
        for thread in readers:
            thread.join(timeout=30)
    if returncode != 0:
        lines = out.get("stderr", b"").decode(errors="replace").strip().splitlines()
        # The server's own words ("ERROR: relation "log" already exists") come first; pg_restore prints
        # the failed SQL after them, which would push them out of a tail.
        err = server_error(lines) or " | ".join(lines[-5:])[-500:]
        raise BackupError(f"{Path(argv[0]).name} failed (exit code {returncode}): {err}")
    return digest.hexdigest(), size, out.get("stdout", b"").decode(errors="replace")


def _check_digest(manifest: dict[str, Any], sha256: str, size: int, where: str) -> None:
    if sha256 != manifest["sha256"] or size != manifest["size"]:
        raise BackupError(
            f"{where} does not match its manifest (sha256 {sha256[:12]}..., {size} bytes; expected "
            f"{manifest['sha256'][:12]}..., {manifest['size']} bytes); the object is damaged - "
            "use another backup"
        )


def _restore_argv(pg_restore: str, dbname: str, *, clean: bool) -> list[str]:
    # --single-transaction: a failed restore leaves the target as it was; it implies --exit-on-error,
    # spelled out because pg_restore otherwise carries on after errors.
    argv = [
        pg_restore,
        "--exit-on-error",
        "--single-transaction",
        "--no-owner",
        "--no-privileges",
        f"--dbname={dbname}",
    ]
    if clean:
        argv += ["--clean", "--if-exists"]
    return argv


def restore_into(
    store: ObjectStore,
    set_url: StorageURL,
    manifest: dict[str, Any],
    target: PgTarget,
    *,
    pg_bin_dir: str | None,
    clean: bool = False,
) -> dict[str, Any]:
    """Stream the dump into ``target`` with pg_restore and compare row counts with the manifest."""
    pg_restore = find_tool("pg_restore", pg_bin_dir)
    t0 = time.monotonic()
    sha256, size, _ = stream_into(
        store, manifest["dump_key"], _restore_argv(pg_restore, target.dbname, clean=clean), target
    )
    _check_digest(manifest, sha256, size, set_url.url_for(manifest["dump_key"]))
    comparison = compare_counts(manifest, table_counts(target))
    return {"target": target.describe(), "seconds": round(time.monotonic() - t0, 3), **comparison}


def verify_backup(
    store: ObjectStore,
    set_url: StorageURL,
    *,
    pg_bin_dir: str | None = None,
    restore_test: PgTarget | None = None,
    record: bool = True,
    expected_sha256: str | None = None,
) -> dict[str, Any]:
    """Re-read the dump, check size and SHA-256 against the manifest, run ``pg_restore --list`` on it,
    and optionally restore it into a scratch database and compare the row counts of every table.

    :param restore_test: a database on a server where this role may ``CREATE DATABASE``; the scratch
        database is created beside it and dropped afterwards (as are scratch databases earlier runs
        left behind on that server). ``None`` skips the restore test.
    :param record: write the result into the manifest's ``verification`` (retention trusts only sets
        whose verification is ``ok``). Only a verdict is recorded (ok, or a :class:`BackupError`), never
        an interruption, and only into the manifest version that was verified: a set deleted or
        rewritten meanwhile (retention, another verify) is left as it is.
    :param expected_sha256: the dump's SHA-256 as the run that wrote it saw it; a set whose manifest
        says otherwise is not that run's, and is refused.
    :returns: the verification record.
    :raises BackupError: verification failed (recorded first when ``record``).
    """
    set_url, _ = resolve_set(store, set_url)
    try:
        manifest, version = read_manifest_and_version(store, set_url)
    except StorageError as exc:
        raise BackupError(str(exc)) from exc
    if expected_sha256 is not None and manifest.get("sha256") != expected_sha256:
        raise BackupError(
            f"the manifest in {set_url} describes a dump with sha256 {str(manifest.get('sha256'))[:12]}..., "
            f"not the one this run wrote ({expected_sha256[:12]}...); another writer replaced it"
        )
    started = time.monotonic()
    result: dict[str, Any] = {"ok": False, "verified_at": datetime.now(UTC).isoformat()}
    verdict = False
    try:
        pg_restore = find_tool("pg_restore", pg_bin_dir)
        sha256, size, toc = stream_into(store, manifest["dump_key"], [pg_restore, "--list"], PgTarget())
        _check_digest(manifest, sha256, size, set_url.url_for(manifest["dump_key"]))
        entries = [line for line in toc.splitlines() if line.strip() and not line.startswith(";")]
        table_data = sum(1 for line in entries if " TABLE DATA " in line)
        if not entries:
            raise BackupError(f"pg_restore --list found no entries in {set_url}; the dump is unusable")
        result.update(sha256_ok=True, size=size, toc_entries=len(entries), toc_table_data=table_data)
        if restore_test is not None:
            result["restore_test"] = _restore_test(store, set_url, manifest, restore_test, pg_bin_dir)
            if result["restore_test"]["mismatches"]:
                raise BackupError(
                    f"restore test of {set_url} found different row counts in "
                    f"{len(result['restore_test']['mismatches'])} table(s): "
                    f"{sorted(result['restore_test']['mismatches'])[:5]}; do not rely on this backup"
                )
        result["ok"] = verdict = True
    except BackupError as exc:
        result["error"] = str(exc)
        verdict = True
        raise
    finally:
        result["seconds"] = round(time.monotonic() - started, 3)
        result["verified_at"] = datetime.now(UTC).isoformat()  # when the verdict came (retention's grace)
        if record and verdict:
            _record_verification(store, set_url, manifest, version, result)
    log.info("verified %s: %s", set_url, result)
    return result


def _record_verification(
    store: ObjectStore, set_url: StorageURL, manifest: dict[str, Any], version: str | None, result: dict
) -> None:
    try:
        write_manifest(store, set_url, {**manifest, "verification": result}, replace_version=version)
    except StorageConflictError as exc:
        log.warning("verification result not recorded: %s", exc)
        if result["ok"]:
            raise BackupError(
                f"{set_url} was deleted or rewritten while it was being verified (retention or another "
                "verify); the result was not recorded, run the verification again"
            ) from exc
    except Exception as exc:
        log.warning("could not record the verification result in %s: %s", set_url, exc)
        if result["ok"]:
            raise BackupError(
                f"verified {set_url} but could not record it in its manifest ({exc}); check write access"
            ) from exc


def drop_leftover_scratch_databases(conn: Any) -> list[str]:
    """Drop the scratch databases on this server whose restore test is gone (SIGKILL, a crash, a lost
    connection): those without the advisory lock their owner holds while it runs. Returns their names."""
    dropped = []
    with conn.cursor() as cur:
        cur.execute(
            _LEFTOVER_SCRATCH_SQL,
            {"pattern": SCRATCH_PREFIX.replace("_", "\\_") + "%", "space": _SCRATCH_LOCK_SPACE},
        )
        leftovers = [row[0] for row in cur.fetchall()]
    for name in leftovers:
        try:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:
            log.warning("could not drop the leftover scratch database %s (%s)", name, one_line(exc))
            continue
        log.warning("dropped %s, a scratch database an earlier restore test left behind", name)
        dropped.append(name)
    return dropped


def _restore_test(
    store: ObjectStore,
    set_url: StorageURL,
    manifest: dict[str, Any],
    server: PgTarget,
    pg_bin_dir: str | None,
) -> dict[str, Any]:
    scratch = f"{SCRATCH_PREFIX}{manifest['set_id'].lower()}_{uuid.uuid4().hex[:6]}"
    # This session stays open for the whole test: its advisory lock tells a concurrent verify on the
    # same server that the scratch database is in use; if this process dies, the lock goes with it.
    with server.connect() as conn:
        leftovers = drop_leftover_scratch_databases(conn)
        conn.execute("SELECT pg_advisory_lock(%s::int4, hashtext(%s))", (_SCRATCH_LOCK_SPACE, scratch))
        try:
            conn.execute(f'CREATE DATABASE "{scratch}"')
        except Exception as exc:
            raise BackupError(
                f"cannot create the scratch database on {server.describe()} "
                f"({one_line(exc, limit=200)}); "
                "grant CREATEDB to that role or point the restore test at another server"
            ) from exc
        try:
            result = restore_into(
                store, set_url, manifest, server.with_database(scratch), pg_bin_dir=pg_bin_dir
            )
        except BaseException as exc:
            note_cleanup(exc, f"scratch database {scratch} dropped")
            raise
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    result["scratch_database"] = scratch + " (dropped)"
    if leftovers:
        result["leftover_scratch_databases_dropped"] = leftovers
    return result


def describe_objects(objects: list[tuple[str, str, str]]) -> str:
    """``2 tables, 1 view, 1 function: public.a, public.b, ...`` for a not-empty message."""
    counts: dict[str, int] = {}
    for kind, _, _ in objects:
        counts[kind] = counts.get(kind, 0) + 1
    kinds = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in counts.items())
    names = ", ".join(f"{schema}.{name}" for _, schema, name in objects[:5])
    return f"{kinds}: {names}{', ...' if len(objects) > 5 else ''}"


def restore_backup(
    store: ObjectStore,
    url: StorageURL,
    target: PgTarget,
    *,
    force: bool = False,
    pg_bin_dir: str | None = None,
) -> dict[str, Any]:
    """Restore a backup into ``target``.

    Refuses a target that holds any user object (tables, views, sequences, types, functions; see
    :func:`~platform_kit.backup.pgtools.user_objects`) unless ``force`` (then existing objects of the
    dump are dropped and recreated). Checks the SHA-256 before touching the target, restores in one
    transaction with exit-on-error (a failure leaves the target unchanged, and the error quotes the
    server's own ``ERROR:`` line), then compares row counts.
    """
    # A prefix means its newest *verified* backup: never restore an unchecked one by accident.
    set_url, manifest = resolve_set(store, url, verified_only=True)
    with target.connect() as conn:
        existing = user_objects(conn)
    if existing and not force:
        raise BackupError(
            f"target {target.describe()} is not empty ({describe_objects(existing)}); restore into an "
            "empty database or pass --force to replace the objects the dump contains"
        )
    dump_url = set_url.url_for(manifest["dump_key"])
    try:
        sha256, size = store.sha256_of(manifest["dump_key"])
    except Exception as exc:
        raise BackupError(
            f"cannot read {dump_url} ({one_line(exc, limit=200)}); check the URL and access"
        ) from exc
    _check_digest(manifest, sha256, size, dump_url)
    result = restore_into(store, set_url, manifest, target, pg_bin_dir=pg_bin_dir, clean=bool(existing))
    result.update(
        backup=str(set_url),
        alembic_revision=manifest.get("alembic_revision"),
        airflow_version=manifest.get("airflow_version"),
        fernet_key=manifest.get("fernet_key"),
    )
    return result

"""Create a backup: preflight, ``pg_dump -Fc`` streamed straight into object storage, manifest last.

The dump and the row counts in the manifest come from the same MVCC snapshot: we open a repeatable-read
transaction, export its snapshot, hand it to ``pg_dump --snapshot`` and count rows in that transaction.
The restore test can therefore demand exact equality for every table.

Each run owns its set: a unique id (:func:`~platform_kit.storage.run_set_id`) and create-only writes of
the dump and the manifest, so two runs started in the same second (a scheduled run and a manual
pre-upgrade backup) each get their own complete set, and a run never reports an object it did not write.
SIGTERM/SIGINT (:mod:`platform_kit.interrupts`) stop ``pg_dump`` and abort the upload on the way out.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from platform_kit.backup.pgtools import (
    TABLES_SQL,
    ProcessStream,
    check_client_not_older,
    count_rows,
    find_tool,
    qualified_name,
    server_version,
    tool_version,
)
from platform_kit.backup.source import PgTarget
from platform_kit.defaults import (
    BACKUP_COMPRESS_LEVEL,
    BACKUP_EXCLUDE_TABLE_DATA,
    BACKUP_LOCK_WAIT_TIMEOUT_SECONDS,
)
from platform_kit.exceptions import BackupError, RunInterrupted, StorageConflictError
from platform_kit.interrupts import note_cleanup
from platform_kit.storage import (
    MANIFEST_NAME,
    ObjectStore,
    StorageError,
    StorageURL,
    build_manifest,
    run_set_id,
    write_manifest,
)
from platform_kit.utils import one_line

log = logging.getLogger(__name__)

DUMP_NAME = "metadb.dump"
MANIFEST_KIND = "platform-kit-metadb-backup"
#: Tables whose counts the run summary shows (the manifest has every table).
MAIN_TABLES = (
    "dag", "dag_run", "task_instance", "task_instance_history", "xcom", "log", "job",
    "variable", "connection", "serialized_dag", "asset_event",
)  # fmt: skip
FERNET_WARNING = (
    "[core] fernet_key is EMPTY in this process: either Airflow stores connection passwords and variables "
    "UNENCRYPTED (then this dump holds them in plaintext - protect it like a secret) or this worker lacks "
    "the key. Restoring needs the same Fernet key; back it up separately."
)

FERNET_UNKNOWN_SHORT = (
    "this shell has no Airflow configuration, so which [core] fernet_key encrypts the dumped secrets is "
    "unknown; restoring needs the key of the Airflow that uses this DB"
)
FERNET_UNKNOWN = (
    FERNET_UNKNOWN_SHORT + " (run the backup where AIRFLOW_HOME or AIRFLOW_CONFIG points at that "
    "Airflow's configuration to record the key's fingerprint)"
)


@dataclass(frozen=True)
class DumpOptions:
    """Knobs of ``pg_dump``.

    :param exclude_table_data: table name patterns (psql-style ``*``, optionally ``schema.table``) whose
        rows are not dumped (their definitions are). Defaults to Airflow's ``_airflow_deleted__*`` and
        ``_airflow_moved__*`` leftovers from ``db clean`` and migrations.
    :param lock_wait_timeout_s: give up if a table lock is not granted in time (e.g. during a migration)
        instead of queueing behind it and blocking the scheduler.
    :param compress_level: 0-9 for the custom format's zlib; ``None`` is pg_dump's default (6). Level 1
        is the default here: about 2.5x faster than 6 for ~10 % more bytes (``docs/benchmarks.md``).
    """

    exclude_table_data: tuple[str, ...] = BACKUP_EXCLUDE_TABLE_DATA
    lock_wait_timeout_s: int = BACKUP_LOCK_WAIT_TIMEOUT_SECONDS
    compress_level: int | None = BACKUP_COMPRESS_LEVEL

    def pg_dump_args(self) -> list[str]:
        args = [
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--lock-wait-timeout={self.lock_wait_timeout_s * 1000}",
        ]
        if self.compress_level is not None:
            args.append(f"--compress={self.compress_level}")
        args += [f"--exclude-table-data={pattern}" for pattern in self.exclude_table_data]
        return args


def fernet_facts() -> dict[str, Any]:
    """Fingerprints (SHA-256) of the ``[core] fernet_key`` values readable here - never the keys."""
    try:
        from platform_kit.version_compat import airflow_conf

        value = airflow_conf().get("core", "fernet_key", fallback="") or ""
    except Exception as exc:
        log.warning(
            "could not read [core] fernet_key (%s); the manifest records no fingerprint", one_line(exc)
        )
        return {"status": "unreadable", "fingerprints": []}
    keys = [k.strip() for k in value.split(",") if k.strip()]
    if not keys and not _knows_airflow_config():
        return {"status": "unknown", "fingerprints": [], "note": FERNET_UNKNOWN}
    if not keys:
        log.warning(FERNET_WARNING)
        return {"status": "empty", "fingerprints": [], "warning": FERNET_WARNING}
    return {"status": "present", "fingerprints": [hashlib.sha256(k.encode()).hexdigest() for k in keys]}


def _knows_airflow_config() -> bool:
    """Whether an empty key here means the Airflow has none (a task, or a shell with Airflow's config)."""
    from platform_kit.shell import has_airflow_config
    from platform_kit.version_compat import in_task_process

    return in_task_process() or has_airflow_config()


def describe_fernet(facts: dict[str, Any]) -> str:
    """One line for a summary: the key's fingerprint(s), or why there is none."""
    fingerprints = facts.get("fingerprints") or []
    if fingerprints:
        return "sha256 " + ", ".join(f[:16] for f in fingerprints) + " (restoring needs this key)"
    if facts.get("status") == "unknown":
        return "not known here: " + FERNET_UNKNOWN_SHORT
    if facts.get("status") == "empty":
        return "EMPTY: connection passwords and variables are stored unencrypted; protect this dump"
    return str(facts.get("status", "unreadable"))


def airflow_version() -> str | None:
    try:
        return metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        return None


def preflight(
    source: PgTarget,
    store: ObjectStore | None = None,
    dest: StorageURL | None = None,
    *,
    pg_bin_dir: str | None = None,
) -> dict[str, Any]:
    """Check everything a backup needs before anything is written.

    pg_dump is present and not older than the server, the database is reachable with these credentials,
    and (when ``store`` is given) the bucket exists and the prefix accepts a write and a delete.

    :returns: facts for the summary (versions, database size).
    :raises BackupError: the first check that fails, as one line naming the fix.
    """
    pg_dump = find_tool("pg_dump", pg_bin_dir)
    client, client_text = tool_version(pg_dump)
    with source.connect() as conn:
        server, server_text = server_version(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_database_size(current_database())")
            (db_size,) = cur.fetchone()
    check_client_not_older("pg_dump", client, server, server_text)
    if store is not None and dest is not None:
        try:
            store.check_writable(dest.key())
        except StorageError as exc:
            raise BackupError(str(exc)) from exc
    return {
        "source": source.describe(),
        "pg_dump": pg_dump,
        "client_version": client_text,
        "server_version": server_text,
        "database_size": int(db_size),
        "destination": str(dest) if dest else None,
    }


class _SnapshotCounter:
    """Holds the exported snapshot open and counts rows of every table in it, in a background thread."""

    def __init__(self, conn: Any, exclude_patterns: tuple[str, ...]) -> None:
        self.conn = conn
        self.exclude_patterns = exclude_patterns
        self.counts: dict[str, int] = {}
        self.excluded: list[str] = []
        self.alembic_revision: str | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="row-counts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()

    def failed_first(self) -> bool:
        """True when counting failed on its own, not because :meth:`cancel_safe` stopped it."""
        return self.error is not None and type(self.error).__name__ != "QueryCanceled"

    def join(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise BackupError(f"counting rows in the dump's snapshot failed ({one_line(self.error)})")

    def _run(self) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute(TABLES_SQL)
                tables = cur.fetchall()
                for schema, name in tables:
                    qualified = qualified_name(schema, name)
                    if matches_any(schema, name, self.exclude_patterns):
                        self.excluded.append(qualified)
                    self.counts[qualified] = count_rows(cur, schema, name)
                if "alembic_version" in self.counts:
                    cur.execute("SELECT version_num FROM public.alembic_version")
                    row = cur.fetchone()
                    self.alembic_revision = row[0] if row else None
        except BaseException as exc:
            self.error = exc


def matches_any(schema: str, name: str, patterns: tuple[str, ...]) -> bool:
    """psql-style pattern match as ``--exclude-table-data`` does it (``*`` and ``?``; ``schema.table``)."""
    for pattern in patterns:
        if "." in pattern:
            pschema, _, pname = pattern.partition(".")
            if fnmatch.fnmatchcase(schema, pschema) and fnmatch.fnmatchcase(name, pname):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def create_backup(
    source: PgTarget,
    store: ObjectStore,
    dest: StorageURL,
    *,
    options: DumpOptions | None = None,
    pg_bin_dir: str | None = None,
    check_destination: bool = True,
    set_id: str | None = None,
) -> dict[str, Any]:
    """Dump ``source`` into a new set under ``dest`` and write its manifest last.

    :param source: the database to dump (see :mod:`platform_kit.backup.source`).
    :param store: the store for ``dest`` (from :func:`platform_kit.storage.open_store`).
    :param dest: destination prefix; the set goes to ``<dest>/<set id>/``.
    :param options: pg_dump knobs.
    :param pg_bin_dir: directory holding pg_dump (default: ``PATH``).
    :param check_destination: also run the bucket and write-probe checks (a DAG runs them in its own
        preflight task and skips them here); the client/server checks always run.
    :param set_id: override the set id (default: the start time and a random token, unique per run).
    :returns: the manifest as written.
    :raises BackupError: nothing was committed (the upload was aborted, no manifest exists), or the set
        already holds another run's objects (they are left untouched).
    :raises RunInterrupted: SIGTERM/SIGINT; pg_dump was stopped and the upload aborted first.
    """
    options = options or DumpOptions()
    facts = preflight(source, store if check_destination else None, dest, pg_bin_dir=pg_bin_dir)
    started = datetime.now(UTC)
    set_id = set_id or run_set_id(started)
    set_url = dest.child(set_id)
    dump_key = set_url.key(DUMP_NAME)
    if store.head(set_url.key(MANIFEST_NAME)) is not None or store.head(dump_key) is not None:
        raise BackupError(f"{set_url} already holds another run's backup; it was left untouched")
    fernet = fernet_facts()
    log.info("backing up %s to %s", source.describe(), set_url.url_for(dump_key))

    with source.connect(autocommit=False) as snap_conn:
        with snap_conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cur.fetchone()
        argv = [facts["pg_dump"], *options.pg_dump_args(), f"--snapshot={snapshot}"]
        stream = ProcessStream(argv, source, expect_magic=b"PGDMP", label="pg_dump")
        counter = _SnapshotCounter(snap_conn, options.exclude_table_data)
        t0 = time.monotonic()
        counter.start()
        try:
            info = store.upload_stream(dump_key, stream, expected_size=facts["database_size"], if_absent=True)
        except BaseException as exc:
            stream.kill()
            with contextlib.suppress(Exception):
                snap_conn.cancel_safe()  # stop counting rows for a dump that will not exist
            counter.wait()
            note_cleanup(exc, "pg_dump stopped")
            note_cleanup(exc, f"upload to {set_url.url_for(dump_key)} aborted, nothing committed")
            if isinstance(exc, KeyboardInterrupt):
                raise
            if counter.failed_first():
                # The counter's failure aborted the snapshot, so pg_dump's own error ("could not import
                # the requested snapshot") would hide the cause, e.g. a table the role may not read.
                raise BackupError(
                    f"reading the tables failed ({one_line(counter.error)}); give the role read access "
                    "to every table (pg_read_all_data on PostgreSQL 14+) - nothing was committed"
                ) from exc
            if isinstance(exc, StorageConflictError):
                raise BackupError(f"{exc}; nothing of this run was committed") from exc
            if isinstance(exc, BackupError):
                raise
            raise BackupError(
                f"upload to {set_url.url_for(dump_key)} failed ({one_line(exc)}); nothing was committed - "
                "check the bucket and the storage connection, then rerun"
            ) from exc
        finally:
            stream.kill()
        try:
            counter.join()
            snap_conn.rollback()
        except BaseException as exc:
            _discard(store, dump_key)
            note_cleanup(exc, "the dump had no manifest yet and was removed")
            raise
        dump_seconds = time.monotonic() - t0

    ended = datetime.now(UTC)
    manifest = build_manifest(
        MANIFEST_KIND,
        set_id,
        [info],
        dump_key=dump_key,
        size=info.size,
        sha256=info.sha256,
        dump_format="pg_dump custom (-Fc)",
        source=source.describe(),
        database=source.dbname,
        server_version=facts["server_version"],
        client_version=facts["client_version"],
        airflow_version=airflow_version(),
        alembic_revision=counter.alembic_revision,
        started_at=started.isoformat(),
        ended_at=ended.isoformat(),
        dump_seconds=round(dump_seconds, 3),
        database_size=facts["database_size"],
        row_counts=counter.counts,
        excluded_table_data=counter.excluded,
        pg_dump_options=options.pg_dump_args(),
        fernet_key=fernet,
        restore_note="Restoring needs the same Fernet key ([core] fernet_key) the source used; "
        "compare its SHA-256 with fernet_key.fingerprints.",
        verification=None,
    )
    try:
        write_manifest(store, set_url, manifest, create=True)
    except StorageConflictError as exc:
        # Another writer's manifest is in the set: neither it nor the dump is ours to remove any more.
        raise BackupError(
            f"{exc}; this run's dump {set_url.url_for(dump_key)} has no manifest of its own"
        ) from exc
    except RunInterrupted as exc:
        _discard(store, dump_key)
        exc.note("the dump had no manifest yet and was removed")
        raise
    except Exception as exc:
        _discard(store, dump_key)
        raise BackupError(
            f"could not write the manifest of {set_url} ({one_line(exc)}); the dump was removed - "
            "check write access and rerun"
        ) from exc
    log.info("backup %s committed: %s bytes, sha256 %s", set_id, info.size, info.sha256)
    return manifest


def _discard(store: ObjectStore, key: str) -> None:
    """Remove a dump that will never get a manifest (without one it is ignored anyway; this saves space)."""
    try:
        store.delete(key)
    except Exception as exc:
        log.warning("could not remove the orphaned dump %s (%s); it has no manifest and is ignored", key, exc)


def main_table_counts(manifest: dict[str, Any]) -> dict[str, int]:
    """The counts of :data:`MAIN_TABLES` present in a manifest, for summaries."""
    counts = manifest.get("row_counts") or {}
    return {t: counts[t] for t in MAIN_TABLES if t in counts}


#: How much of a Fernet key's SHA-256 a summary shows: enough to tell keys apart, as ``backup list`` does.
FINGERPRINT_CHARS = 12


def fernet_fingerprint_line(fernet: dict[str, Any] | None) -> str:
    """The manifest's ``fernet_key`` facts as one line for a summary: short SHA-256 fingerprints, or why not.

    A person compares it with ``sha256sum`` of the key they kept (``printf %s "$KEY" | sha256sum``) before
    a restore. Several fingerprints mean a rotated key list; the first key encrypts.
    """
    fernet = fernet or {}
    prints = [f"sha256:{f[:FINGERPRINT_CHARS]}" for f in fernet.get("fingerprints") or []]
    if prints:
        return ", ".join(prints)
    if fernet.get("status") == "empty":
        return "none: [core] fernet_key was empty where the backup ran (see the warning)"
    return f"unknown: [core] fernet_key was {fernet.get('status', 'not recorded')} where the backup ran"

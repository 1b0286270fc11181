"""Archive tables of the DB cleanup: core's per-batch CSVs merged per table, uploaded, read back, dropped.

Used for ``archive=export_and_drop``: the rows core moved aside go to object storage as one CSV per source
table with a manifest written last, and only the tables whose upload was verified are dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from platform_kit.dbclean.launcher import ChildLauncher
from platform_kit.dbclean.options import CleanupOptions
from platform_kit.exceptions import DbCleanupError
from platform_kit.utils import size_fields

_ARCHIVE_NAME = re.compile(r"^_airflow_deleted__(?P<table>.+?)__(?P<stamp>\d{14})(?:__b(?P<batch>\d+))?$")


def _archive_order(archive_table: str) -> tuple[str, str, int]:
    match = _ARCHIVE_NAME.match(archive_table)
    if not match:
        return (archive_table, "", 0)
    return (match.group("table"), match.group("stamp"), int(match.group("batch") or 0))


def merge_archive_csvs(files: dict[str, dict[str, Any]], out_dir: Path) -> dict[str, dict[str, Any]]:
    """Concatenate core's per-batch CSVs into one file per source table (and header).

    Core writes one archive table per batch (``..._b1``, ``..._b2``...), so a large cleanup leaves
    thousands of small files; one file per table is what someone restoring rows wants. A table whose
    archives have different headers (an upgrade between runs) gets ``<table>-2.csv`` and so on.

    :param files: archive table -> ``{"path", "rows"}`` as exported by core.
    :param out_dir: where the merged files are written.
    :returns: file name -> ``{"path", "rows", "bytes", "sha256", "archive_tables"}``.
    """
    merged: dict[str, dict[str, Any]] = {}
    headers: dict[str, bytes] = {}
    digests: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        handles: dict[str, Any] = {}
        for archive_table in sorted(files, key=_archive_order):
            info = files[archive_table]
            table = _archive_order(archive_table)[0]
            with open(info["path"], "rb") as source:
                header = source.readline()
                name, suffix = f"{table}.csv", 2
                while name in headers and headers[name] != header:
                    name, suffix = f"{table}-{suffix}.csv", suffix + 1
                if name not in handles:
                    headers[name] = header
                    handles[name] = stack.enter_context(open(out_dir / name, "wb"))
                    handles[name].write(header)
                    digests[name] = hashlib.sha256(header)
                    merged[name] = {"path": str(out_dir / name), "rows": 0, "archive_tables": []}
                while chunk := source.read(1024 * 1024):
                    handles[name].write(chunk)
                    digests[name].update(chunk)
            merged[name]["rows"] += int(info["rows"])
            merged[name]["archive_tables"].append(archive_table)
    for name, info in merged.items():
        info["bytes"] = Path(info["path"]).stat().st_size
        info["sha256"] = digests[name].hexdigest()
    return merged


def export_archives(
    driver: ChildLauncher,
    options: CleanupOptions,
    *,
    clean_before: datetime,
    output: Callable[[str], None],
) -> dict[str, Any]:
    from platform_kit.storage import build_manifest, open_store, run_set_id, write_manifest

    store, dest = open_store(
        options.export_url or "", aws_conn_id=options.aws_conn_id, google_conn_id=options.google_conn_id
    )
    with tempfile.TemporaryDirectory(prefix="platform-kit-dbclean-export-") as tmp:
        raw_dir = Path(tmp) / "raw"
        raw_dir.mkdir()
        exported = driver.run("export", tables=list(options.tables), output_path=str(raw_dir))
        if exported.get("error"):
            raise DbCleanupError(f"exporting archive tables failed: {exported['error']}")
        files = exported["files"]
        if not files:
            return {"destination": None, "files": {}, "dropped": []}
        merged_dir = Path(tmp) / "merged"
        merged_dir.mkdir()
        merged = merge_archive_csvs(files, merged_dir)
        # A set of this run's own, written create-only: the tables are dropped next, so another cleanup
        # exporting in the same second must never overwrite the only copy.
        set_id = run_set_id()
        set_url = dest.child(set_id)
        uploaded = []
        for name, info in sorted(merged.items()):
            key = set_url.key(name)
            with open(info["path"], "rb") as handle:
                obj = store.upload_stream(key, handle, expected_size=info["bytes"], if_absent=True)
            # Read it back: the archive tables are dropped next, so this copy must be the real thing.
            remote_sha, remote_size = store.sha256_of(key)
            if (remote_sha, remote_size) != (info["sha256"], info["bytes"]):
                raise DbCleanupError(
                    f"uploaded {set_url.url_for(key)} does not match the export (size {remote_size} vs "
                    f"{info['bytes']}); archive tables were kept in the database"
                )
            output(
                f"Uploaded {info['rows']} rows to {set_url.url_for(key)} ({info['bytes']} bytes, verified)"
            )
            uploaded.append(obj)
            info["url"] = set_url.url_for(key)
        write_manifest(
            store,
            set_url,
            build_manifest(
                "dbclean-archive",
                set_id,
                uploaded,
                clean_before=clean_before.isoformat(),
                tables={
                    name: {"rows": i["rows"], "archive_tables": i["archive_tables"]}
                    for name, i in merged.items()
                },
            ),
            create=True,
        )
    dropped = driver.run("drop", tables=list(options.tables), exported=sorted(files))
    if dropped.get("error"):
        raise DbCleanupError(f"dropping exported archive tables failed: {dropped['error']}")
    return {
        "destination": str(set_url),
        "files": {
            name: {"rows": i["rows"], **size_fields("bytes", i["bytes"]), "url": i["url"]}
            for name, i in merged.items()
        },
        "dropped": dropped["dropped"],
    }

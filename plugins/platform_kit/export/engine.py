"""One export run, from collected content to an uploaded, manifest-committed artifact.

Plain Python: the DAG's task and ``platform-kit export create`` call :func:`export_to` (a destination URL
and a collector), which runs :func:`run_export`; nothing here imports Airflow. Order matters for "nothing
partial": the destination and key are checked before anything is read, everything is read and sealed in
memory, and only then is the artifact uploaded, followed by its manifest (the commit marker) and, last,
retention. Each run writes a set of its own (a unique id, create-only writes), and retention never deletes
it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from platform_kit.defaults import (
    AWS_CONN_ID,
    EXPORT_MODES,
    GOOGLE_CONN_ID,
    KEEP_DAILY,
    KEEP_MONTHLY,
    KEEP_WEEKLY,
)
from platform_kit.exceptions import ConfigurationError
from platform_kit.export import crypto
from platform_kit.export.collect import summarise_names
from platform_kit.export.format import ExportContent, build_bundle
from platform_kit.storage.manifest import run_set_id
from platform_kit.utils import human_bytes

ENCRYPTED_NAME = "variables-connections.json.pkexp"
PLAINTEXT_NAME = "variables-connections.json"
PLAINTEXT_WARNING = "PLAINTEXT: secrets are readable by anyone who can read the destination"


class Destination(Protocol):
    """Where exports go (implemented on top of :mod:`platform_kit.storage` by ``publish``)."""

    url: str

    def check(self) -> None:
        """Raise a one-line error unless the destination can be written."""

    def publish(self, folder: str, name: str, data: bytes, manifest: dict[str, Any]) -> dict[str, str]:
        """Upload ``data`` as ``folder/name``, then the manifest last; return both URLs."""

    def retention(self, *, now: datetime, dry_run: bool, protect: str | None = None) -> dict[str, Any]:
        """Apply the keep daily/weekly/monthly policy, never deleting the set ``protect`` (this run's);
        return what was (or would be) deleted and kept."""


@dataclass(frozen=True)
class ExportRequest:
    """What one run should do.

    :param mode: ``db`` or ``sdk`` (see :mod:`platform_kit.export.collect`), recorded in the manifest.
    :param key: the 32-byte encryption key, or ``None`` for a PLAINTEXT export.
    :param dry_run: collect and seal, but upload and delete nothing.
    :param airflow_version: recorded in the manifest and the document.
    :param retention_dry_run: upload, but only report what retention would delete (a scheduled run of a
        DAG nobody has confirmed yet, :mod:`platform_kit.confirmation`).
    """

    mode: str
    key: bytes | None
    dry_run: bool = False
    airflow_version: str = ""
    retention_dry_run: bool = False


def run_export(
    request: ExportRequest,
    collect: Callable[[], ExportContent],
    destination: Destination,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Collect, seal, upload and prune; return the run summary (never any value or secret).

    :param collect: reads every variable and connection (raises a one-line error on failure).
    :param destination: checked before collecting so a bad destination costs nothing.
    :param now: the export's timestamp (UTC); defaults to the current time.
    """
    started = time.monotonic()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    destination.check()
    content = collect()
    collected = time.monotonic()

    stamp = run_set_id(now)
    document = build_bundle(
        content,
        created_at=now.isoformat(),
        source={"mode": request.mode, "airflow_version": request.airflow_version},
    )
    if request.key is not None:
        artifact = crypto.encrypt(document, request.key)
        fingerprint: str | None = crypto.key_fingerprint(request.key)
        name, encryption = ENCRYPTED_NAME, "AES-256-GCM"
    else:
        artifact, fingerprint, name, encryption = document, None, PLAINTEXT_NAME, "PLAINTEXT"
    sha256 = hashlib.sha256(artifact).hexdigest()
    manifest = {
        "started_at": now.isoformat(),
        "artifact": name,
        "sha256": sha256,
        "size": len(artifact),
        "encryption": encryption,
        "key_fingerprint": fingerprint,
        "counts": {"variables": len(content.variables), "connections": len(content.connections)},
        "mode": request.mode,
        "airflow_version": request.airflow_version,
    }
    if request.dry_run:
        urls = {"artifact": f"{destination.url}/{stamp}/{name} (dry run: not uploaded)", "manifest": ""}
    else:
        urls = destination.publish(stamp, name, artifact, manifest)
    retention = destination.retention(
        now=now, dry_run=request.dry_run or request.retention_dry_run, protect=stamp
    )

    summary: dict[str, Any] = {
        "encryption": (f"AES-256-GCM, key fingerprint {fingerprint}" if fingerprint else PLAINTEXT_WARNING),
        "dry_run": request.dry_run,
        "mode": request.mode,
        "variables": len(content.variables),
        "connections": len(content.connections),
        "bytes": len(artifact),
        "size": human_bytes(len(artifact)),
        "document_bytes": len(document),
        "sha256": sha256,
        "destination": urls["artifact"],
        "manifest": urls["manifest"],
        "retention": retention,
        "collect_seconds": round(collected - started, 2),
        **content.timings,
        "total_seconds": round(time.monotonic() - started, 2),
    }
    if content.skipped:
        summary["skipped_gone_or_null"] = summarise_names(content.skipped)
    if content.shadowed:
        summary["shadowed_by_env_var"] = summarise_names(content.shadowed)
    return summary


def check_mode(mode: str) -> str:
    """``mode`` if it is one the export knows; otherwise a one-line error naming the choices."""
    if mode in EXPORT_MODES:
        return mode
    if mode == "cli":
        raise ConfigurationError(
            "mode 'cli' was replaced by mode 'db': the same metadata-DB connection and Fernet key, the "
            "stored rows exactly, without the airflow CLI; use mode=db"
        )
    raise ConfigurationError(f"unknown export mode {mode!r}; use one of {', '.join(EXPORT_MODES)}")


def export_to(
    url: str,
    collect: Callable[[], ExportContent],
    *,
    mode: str,
    key: bytes | None,
    dry_run: bool = False,
    retention_dry_run: bool = False,
    keep_daily: int = KEEP_DAILY,
    keep_weekly: int = KEEP_WEEKLY,
    keep_monthly: int = KEEP_MONTHLY,
    aws_conn_id: str = AWS_CONN_ID,
    google_conn_id: str = GOOGLE_CONN_ID,
) -> dict[str, Any]:
    """One export to ``url`` with retention: what the DAG's task and ``platform-kit export create`` run.

    :param url: ``s3://bucket/prefix`` or ``gs://bucket/prefix``; parsed (and an unknown scheme refused)
        before anything is read.
    :param collect: reads every variable and connection, e.g.
        :func:`~platform_kit.export.collect.collect_from_db`.
    :param mode: recorded in the manifest and summary.
    :param key: the export key, or ``None`` for a PLAINTEXT export.
    :param dry_run: collect and seal only: upload and delete nothing.
    :param retention_dry_run: upload, but only report what retention would delete (see
        :class:`ExportRequest`).
    :param keep_daily: retention, as for backups (the newest verified export is always kept).
    :param aws_conn_id: Connection for ``s3://`` destinations.
    :param google_conn_id: Connection for ``gs://`` destinations.
    :returns: the run summary (never a value).
    """
    from platform_kit.export.publish import open_destination
    from platform_kit.version_compat import airflow_version_text

    destination = open_destination(
        url,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        keep_monthly=keep_monthly,
        aws_conn_id=aws_conn_id,
        google_conn_id=google_conn_id,
    )
    request = ExportRequest(
        mode=check_mode(mode),
        key=key,
        dry_run=dry_run,
        airflow_version=airflow_version_text(),
        retention_dry_run=retention_dry_run,
    )
    return run_export(request, collect, destination)


def title_for(summary: Mapping[str, Any]) -> str:
    """The summary title; says PLAINTEXT / dry run up front so nobody misses it."""
    flags = []
    if str(summary.get("encryption", "")).startswith("PLAINTEXT"):
        flags.append("PLAINTEXT")
    if summary.get("dry_run"):
        flags.append("dry run")
    return "Variable and connection export" + (f" ({', '.join(flags)})" if flags else "")

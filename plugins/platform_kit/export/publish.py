"""Exports on object storage, built on :mod:`platform_kit.storage` (the layer the backups use).

Each export is a *set* like a backup: ``<destination>/<YYYYMMDDTHHMMSSZ-token>/`` holding the artifact and,
written last, ``manifest.json`` (counts, sha256, size, key fingerprint). Both are created with create-only
writes, so two exports started in the same second never overwrite each other. Before the manifest is
written the artifact is read back and its sha256 compared, so the manifest records a real verification
and the backup retention policy (which only counts verified sets) applies to exports unchanged.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from platform_kit.storage import (
    RetentionPolicy,
    StorageError,
    apply_retention,
    build_manifest,
    open_store,
    parse_url,
    read_manifest,
    write_manifest,
)

MANIFEST_KIND = "variable-connection-export"


class StorageDestination:
    """An ``s3://`` or ``gs://`` prefix that receives export sets (the engine's ``Destination``).

    :param url: ``s3://bucket/prefix`` or ``gs://bucket/prefix``; use a prefix of its own (not the
        backups' prefix): retention counts every verified set under it.
    :param aws_conn_id: aws connection used for ``s3://`` destinations.
    :param google_conn_id: google_cloud_platform connection used for ``gs://`` destinations.
    :param policy: how many daily / weekly / monthly exports to keep.
    """

    def __init__(
        self,
        url: str,
        *,
        policy: RetentionPolicy,
        aws_conn_id: str = "aws_default",
        google_conn_id: str = "google_cloud_default",
    ) -> None:
        self._parsed = parse_url(url)  # unknown schemes fail here, before anything is read
        self._conn_ids = {"aws_conn_id": aws_conn_id, "google_conn_id": google_conn_id}
        self._policy = policy
        self._store = None

    @property
    def url(self) -> str:
        return str(self._parsed)

    def _open(self):
        if self._store is None:
            self._store, _ = open_store(self._parsed, **self._conn_ids)
        return self._store

    def check(self) -> None:
        self._open().check_writable(self._parsed.key())

    def publish(self, folder: str, name: str, data: bytes, manifest: dict[str, Any]) -> dict[str, str]:
        store = self._open()
        set_url = self._parsed.child(folder)
        info = store.put_bytes(set_url.key(name), data, if_absent=True)
        expected = hashlib.sha256(data).hexdigest()
        read_back, size = store.sha256_of(info.key)
        if read_back != expected or info.sha256 != expected or size != len(data):
            raise StorageError(
                f"{set_url.url_for(info.key)} read back with sha256 {read_back}, expected {expected}; "
                "no manifest written, the set stays incomplete"
            )
        facts = dict(manifest)
        facts["verification"] = {
            "ok": True,
            "method": "read back and sha256 compared before the manifest",
            "verified_at": datetime.now(UTC).isoformat(),
        }
        write_manifest(store, set_url, build_manifest(MANIFEST_KIND, folder, [info], **facts), create=True)
        return {
            "artifact": set_url.url_for(info.key),
            "manifest": set_url.url_for(set_url.key("manifest.json")),
        }

    def retention(self, *, now: datetime, dry_run: bool, protect: str | None = None) -> dict[str, Any]:
        result = apply_retention(
            self._open(),
            self._parsed,
            self._policy,
            dry_run=dry_run,
            protect=[protect] if protect else (),
            now=now,
        )
        deleted = result.get("deleted", result.get("would_delete", []))
        return {
            "policy": result["policy"],
            "kept": len(result["kept"]),
            ("would_delete" if dry_run else "deleted"): deleted,
            "ignored": result["ignored"],
        }


def open_destination(
    url: str,
    *,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    aws_conn_id: str = "aws_default",
    google_conn_id: str = "google_cloud_default",
) -> StorageDestination:
    """Parse ``url`` and bind the retention policy; raises a one-line :class:`StorageError` if unusable."""
    try:
        policy = RetentionPolicy(daily=keep_daily, weekly=keep_weekly, monthly=keep_monthly)
    except ValueError as exc:
        raise StorageError(str(exc)) from None
    return StorageDestination(url, policy=policy, aws_conn_id=aws_conn_id, google_conn_id=google_conn_id)


def download(url: str, *, storage_conn_id: str | None = None) -> tuple[bytes, dict[str, Any] | None]:
    """Fetch an export from storage: ``url`` names the artifact object or its set folder.

    :returns: the artifact bytes and the set's manifest (``None`` when the set has none).
    """
    parsed = parse_url(url)
    kwargs: dict[str, Any] = {}
    if storage_conn_id:
        kwargs = {"aws_conn_id" if parsed.scheme == "s3" else "google_conn_id": storage_conn_id}
    store, _ = open_store(parsed, **kwargs)
    folder, _, last = parsed.prefix.rpartition("/")
    if last.endswith((".pkexp", ".json")) and last != "manifest.json":
        set_url = parse_url(f"{parsed.scheme}://{parsed.bucket}/{folder}")
        key = parsed.prefix
        try:
            manifest = read_manifest(store, set_url)
        except StorageError:
            manifest = None
    else:
        set_url = (
            parsed if last != "manifest.json" else parse_url(f"{parsed.scheme}://{parsed.bucket}/{folder}")
        )
        manifest = read_manifest(store, set_url)
        if manifest.get("kind") != MANIFEST_KIND or not manifest.get("objects"):
            raise StorageError(f"{set_url} is not a variable/connection export set")
        key = manifest["objects"][0]["key"]
    if store.head(key) is None:
        raise StorageError(f"{parsed.url_for(key)} does not exist")
    return store.get_bytes(key), manifest

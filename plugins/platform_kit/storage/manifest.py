"""Backup sets and their ``manifest.json`` commit marker.

Layout under a destination prefix::

    <prefix>/<set id>/<payload objects...>
    <prefix>/<set id>/manifest.json        <- written LAST

A set id is the UTC start time, ``YYYYMMDDTHHMMSSZ``, so ids sort and parse as timestamps. A set without
a manifest is incomplete (an upload in progress or one that died) and is never treated as a backup. The
manifest lists every payload object with its size and SHA-256 (computed while streaming), plus whatever
facts the producer adds. A later verification step records its result in ``verification``; only sets
whose manifest says ``verification.ok`` count as verified backups (retention works on those only).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from platform_kit.exceptions import StorageError
from platform_kit.storage.base import ObjectInfo, ObjectStore
from platform_kit.storage.url import StorageURL

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "platform-kit-manifest/1"
SET_ID_FORMAT = "%Y%m%dT%H%M%SZ"


def new_set_id(now: datetime | None = None) -> str:
    """The set id for a backup started at ``now`` (default: the current UTC time)."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime(SET_ID_FORMAT)


def parse_set_id(set_id: str) -> datetime | None:
    """The UTC timestamp encoded in a set id, or ``None`` if it is not one."""
    try:
        return datetime.strptime(set_id, SET_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def build_manifest(kind: str, set_id: str, objects: Iterable[ObjectInfo], **facts: Any) -> dict[str, Any]:
    """A manifest dict for ``objects`` (which must carry ``sha256``), with extra JSON-able ``facts``."""
    reserved = {"format", "kind", "set_id", "objects"} & facts.keys()
    if reserved:
        raise ValueError(f"manifest facts may not override {sorted(reserved)}")
    entries = []
    for obj in objects:
        if obj.sha256 is None:
            raise ValueError(f"{obj.key} has no sha256; only objects returned by a writer go in a manifest")
        entries.append({"key": obj.key, "size": obj.size, "sha256": obj.sha256})
    return {"format": MANIFEST_FORMAT, "kind": kind, "set_id": set_id, "objects": entries, **facts}


def write_manifest(store: ObjectStore, set_url: StorageURL, manifest: Mapping[str, Any]) -> ObjectInfo:
    """Write (or replace) ``manifest.json`` in ``set_url``. Call it only after every payload object is
    committed: its presence is what marks the set complete."""
    body = json.dumps(manifest, indent=2, sort_keys=False, default=str).encode()
    return store.put_bytes(set_url.key(MANIFEST_NAME), body)


def read_manifest(store: ObjectStore, set_url: StorageURL) -> dict[str, Any]:
    """The manifest of ``set_url``.

    :raises StorageError: missing or not a platform-kit manifest.
    """
    key = set_url.key(MANIFEST_NAME)
    if store.head(key) is None:
        raise StorageError(
            f"no {MANIFEST_NAME} in {set_url}; the backup is incomplete or the URL does not name a backup set"
        )
    try:
        manifest = json.loads(store.get_bytes(key))
    except ValueError as exc:
        raise StorageError(f"{set_url.url_for(key)} is not valid JSON; the set cannot be trusted") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise StorageError(f"{set_url.url_for(key)} is not a {MANIFEST_FORMAT} manifest")
    return manifest


def is_verified(manifest: Mapping[str, Any] | None) -> bool:
    """True if a verification step recorded success in this manifest."""
    return bool(manifest and (manifest.get("verification") or {}).get("ok") is True)


@dataclass
class BackupSet:
    """One set found under a prefix. ``manifest`` is ``None`` for incomplete sets."""

    set_id: str
    url: StorageURL
    timestamp: datetime | None
    objects: list[ObjectInfo] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        return self.manifest is not None

    @property
    def verified(self) -> bool:
        return is_verified(self.manifest)

    @property
    def size(self) -> int:
        return sum(o.size for o in self.objects if not o.key.endswith("/" + MANIFEST_NAME))


def list_sets(store: ObjectStore, url: StorageURL, *, read_manifests: bool = True) -> list[BackupSet]:
    """Every set directly under ``url``, oldest first by parsed timestamp (listing order is not trusted).

    Objects directly under the prefix (not in a set folder) are ignored. All pages are listed.
    """
    prefix = url.key() + "/" if url.prefix else ""
    sets: dict[str, BackupSet] = {}
    for obj in store.list(prefix):
        rest = obj.key[len(prefix) :]
        set_id, slash, _ = rest.partition("/")
        if not slash or not set_id:
            continue
        backup = sets.get(set_id)
        if backup is None:
            backup = sets[set_id] = BackupSet(set_id, url.child(set_id), parse_set_id(set_id))
        backup.objects.append(obj)
    for backup in sets.values():
        has_manifest = any(o.key == backup.url.key(MANIFEST_NAME) for o in backup.objects)
        if has_manifest and read_manifests:
            try:
                backup.manifest = read_manifest(store, backup.url)
            except StorageError:
                backup.manifest = None
        if backup.timestamp is None and backup.manifest:
            started = backup.manifest.get("started_at")
            backup.timestamp = _parse_iso(started) if isinstance(started, str) else None
    far_past = datetime.min.replace(tzinfo=UTC)
    return sorted(sets.values(), key=lambda s: (s.timestamp or far_past, s.set_id))


def delete_set(store: ObjectStore, backup: BackupSet) -> int:
    """Delete a set: the manifest first, so a half-deleted set is never taken for a complete one.

    :returns: the number of objects deleted.
    """
    manifest_key = backup.url.key(MANIFEST_NAME)
    keys = [o.key for o in backup.objects]
    ordered = [k for k in keys if k == manifest_key] + [k for k in keys if k != manifest_key]
    for key in ordered:
        store.delete(key)
    return len(ordered)


def _parse_iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

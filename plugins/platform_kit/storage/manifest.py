"""Backup sets and their ``manifest.json`` commit marker.

Layout under a destination prefix::

    <prefix>/<set id>/<payload objects...>
    <prefix>/<set id>/manifest.json        <- written LAST

A set id is the UTC start time plus a random token, ``YYYYMMDDTHHMMSSZ-1a2b3c4d`` (:func:`run_set_id`), so
ids sort and parse as timestamps and two runs started in the same second still get sets of their own.
Ids without the token (older sets, or ones a caller names) are read the same way. A run creates every
object of its set with a create-only write, so even a caller that names an existing set cannot overwrite
another run's objects.

A set without a manifest is incomplete (an upload in progress or one that died) and is never treated as a
backup. The manifest lists every payload object with its size and SHA-256 (computed while streaming), plus
whatever facts the producer adds. A later verification step records its result in ``verification``,
replacing exactly the manifest version it read (so a set deleted meanwhile is not brought back); only sets
whose manifest says ``verification.ok`` count as verified backups (retention works on those only).
"""

from __future__ import annotations

import json
import re
import secrets
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


#: A set id: the timestamp, optionally followed by ``-`` and the run's random token.
_SET_ID_RE = re.compile(r"^(\d{8}T\d{6}Z)(?:-[0-9a-z]{1,32})?$")


def new_set_id(now: datetime | None = None) -> str:
    """The bare timestamp id for ``now`` (default: the current UTC time), e.g. ``20260101T020000Z``.

    Runs use :func:`run_set_id`; this one is for ids that must be reproducible (tests, lookups).
    """
    return (now or datetime.now(UTC)).astimezone(UTC).strftime(SET_ID_FORMAT)


def run_set_id(now: datetime | None = None) -> str:
    """A set id of one's own for a run started at ``now``: ``20260101T020000Z-1a2b3c4d``.

    The 32 random bits keep two runs of the same second apart; the create-only writes make even a
    collision fail loudly instead of mixing two runs' objects.
    """
    return f"{new_set_id(now)}-{secrets.token_hex(4)}"


def parse_set_id(set_id: str) -> datetime | None:
    """The UTC timestamp encoded in a set id (with or without the run token), or ``None``."""
    match = _SET_ID_RE.match(set_id)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), SET_ID_FORMAT).replace(tzinfo=UTC)
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


def write_manifest(
    store: ObjectStore,
    set_url: StorageURL,
    manifest: Mapping[str, Any],
    *,
    create: bool = False,
    replace_version: str | None = None,
) -> ObjectInfo:
    """Write ``manifest.json`` in ``set_url``. Call it only after every payload object is committed: its
    presence is what marks the set complete.

    :param create: the run's own first manifest: fail rather than replace one that exists.
    :param replace_version: replace only this version of the manifest (from
        :func:`read_manifest_and_version`); a manifest changed or deleted meanwhile is left alone.
    :raises StorageConflictError: the condition did not hold; nothing was written.
    """
    body = json.dumps(manifest, indent=2, sort_keys=False, default=str).encode()
    return store.put_bytes(set_url.key(MANIFEST_NAME), body, if_absent=create, if_version=replace_version)


def read_manifest_and_version(store: ObjectStore, set_url: StorageURL) -> tuple[dict[str, Any], str | None]:
    """The manifest of ``set_url`` and the version it was read at (for ``replace_version``).

    :raises StorageError: missing or not a platform-kit manifest.
    """
    key = set_url.key(MANIFEST_NAME)
    try:
        raw, version = store.read_versioned(key)
    except StorageError as exc:
        raise StorageError(
            f"no {MANIFEST_NAME} in {set_url}; the backup is incomplete or the URL does not name a backup set"
        ) from exc
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise StorageError(f"{set_url.url_for(key)} is not valid JSON; the set cannot be trusted") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise StorageError(f"{set_url.url_for(key)} is not a {MANIFEST_FORMAT} manifest")
    return manifest, version


def read_manifest(store: ObjectStore, set_url: StorageURL) -> dict[str, Any]:
    """The manifest of ``set_url``.

    :raises StorageError: missing or not a platform-kit manifest.
    """
    return read_manifest_and_version(store, set_url)[0]


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


def parse_timestamp(text: str) -> datetime | None:
    """An ISO-8601 time from a manifest as an aware datetime (UTC when it has no zone), or ``None``."""
    return _parse_iso(text)


def _parse_iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

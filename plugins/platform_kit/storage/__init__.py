"""Shared object-storage layer for backups and exports (S3 and GCS).

Stable public API (import from ``platform_kit.storage``)::

    url = resolve_destination(params["destination"], "platform_kit_backup_url")  # in a task
    store, dest = open_store(url, aws_conn_id="aws_default",
                             google_conn_id="google_cloud_default")
    store.check_writable(dest.key())                       # preflight: bucket + write/delete probe
    set_id = run_set_id()                                   # "20260101T020000Z-1a2b3c4d", unique per run
    set_url = dest.child(set_id)
    info = store.upload_stream(set_url.key("data.bin"), fileobj, expected_size=n, if_absent=True)
    with store.open_writer(set_url.key("x.json"), if_absent=True) as w:  # aborts on exception
        w.write(b"...")
    write_manifest(store, set_url, build_manifest("export", set_id, [info], started_at=...),
                   create=True)                             # LAST; create-only: never another run's
    manifest, version = read_manifest_and_version(store, set_url); list_sets(store, dest)
    write_manifest(store, set_url, {**manifest, "verification": ...}, replace_version=version)
    apply_retention(store, dest, RetentionPolicy(daily=7, weekly=4, monthly=6), dry_run=True,
                    protect=[set_id])                       # never this run's own set

* :class:`StorageURL` / :func:`parse_url` - ``s3://`` and ``gs://`` only; anything else raises
  :class:`StorageError` with a one-line message.
* :class:`ObjectStore` - ``open_writer``, ``upload_stream``, ``put_bytes``, ``open_reader``,
  ``get_bytes``, ``read_versioned``, ``sha256_of``, ``list`` (streamed page by page, in key order, with
  last-modified times), ``head``, ``delete``, ``delete_many`` (one batch request; refused keys named),
  ``check_bucket``, ``check_writable``, ``versioning_enabled``, ``get_lifecycle``/``put_lifecycle``.
  Writers return :class:`ObjectInfo` with ``size`` and ``sha256``. Writes can be create-only
  (``if_absent``) or replace one version only (``if_version``); a lost condition raises
  :class:`StorageConflictError` and writes nothing.
* Every call has bounded timeouts and attempts (``platform_kit.defaults.STORAGE_*``): an endpoint that
  accepts connections but never answers fails a call in about a minute.
* S3: multipart upload, part size from the expected size (>= 8 MiB, <= 10,000 parts), aborted on any
  error. GCS: resumable upload, cancelled on any error. Either way no partial object is ever visible.
* Manifests (:mod:`platform_kit.storage.manifest`) and retention (:mod:`platform_kit.storage.retention`).

Heavy SDKs (boto3, google-cloud-storage, providers) are imported only when a store is opened.
"""

from __future__ import annotations

from platform_kit.exceptions import StorageConflictError, StorageError
from platform_kit.storage.base import ObjectInfo, ObjectStore, ObjectWriter
from platform_kit.storage.clients import (
    gcs_client,
    open_store,
    resolve_destination,
    s3_client,
)
from platform_kit.storage.manifest import (
    MANIFEST_NAME,
    BackupSet,
    build_manifest,
    delete_set,
    is_verified,
    list_sets,
    new_set_id,
    parse_set_id,
    read_manifest,
    read_manifest_and_version,
    run_set_id,
    write_manifest,
)
from platform_kit.storage.retention import RetentionPlan, RetentionPolicy, apply_retention, plan_retention
from platform_kit.storage.url import StorageURL, parse_url

__all__ = [
    "MANIFEST_NAME",
    "BackupSet",
    "ObjectInfo",
    "ObjectStore",
    "ObjectWriter",
    "RetentionPlan",
    "RetentionPolicy",
    "StorageConflictError",
    "StorageError",
    "StorageURL",
    "apply_retention",
    "build_manifest",
    "delete_set",
    "gcs_client",
    "is_verified",
    "list_sets",
    "new_set_id",
    "open_store",
    "parse_set_id",
    "parse_url",
    "plan_retention",
    "read_manifest",
    "read_manifest_and_version",
    "resolve_destination",
    "run_set_id",
    "s3_client",
    "write_manifest",
]

"""Clean Airflow's remote logs in an S3 or GCS prefix with the local engine's policy and report.

One policy, one report, two walkers: this one walks a bucket listing instead of a folder, and decides
with the same :class:`~platform_kit.logcleanup.policy.Cutoffs` (per-DAG and dag-processor retention, the
min-age guard, "an attempt log is kept while one of its trigger logs is kept").

How it stays safe, by construction:

* Only keys under ``<prefix>/`` are listed, and each is checked again before anything is decided, so the
  prefix ``logs`` never reaches ``logs-archive/``. A bucket root (no prefix) is refused unless the caller
  says the whole bucket holds Airflow logs (``allow_bucket_root``).
* Only keys inside Airflow's log layout are judged: ``dag_id=<dag>/...``, ``executor_callbacks/<dag>/...``,
  ``dag_processor/...`` (Airflow 2: ``scheduler/...``) and a dag-processor folder's ``YYYY-MM-DD/...``, and
  of those only ``*.log`` objects (every object under ``executor_callbacks/``). Anything else is left
  alone and counted, unless ``allow_any_layout`` (a custom ``log_filename_template``): then any ``*.log``
  object under the prefix gets the default retention.
* A key the service refuses to delete is reported (``errors``, ``error_samples``) and the rest go on; the
  caller fails the run at the end (the CLI exits 1, the DAG task fails), naming the first one.
* The trigger-log rule needs key order (a trigger log's key extends its attempt log's key, so it follows
  it). A listing out of key order stops the walk, reported as an error, before anything else is deleted.

How it stays fast and small: one streaming pass over the listing (one page of up to 1,000 objects held
at a time), counters instead of lists, and deletes in batches of the service's maximum (S3
``DeleteObjects``: 1,000 keys; GCS batch: 100 calls), each sent as soon as it is full. Memory does not
grow with the number of objects. Deletes are not sent from a second thread while the listing goes on:
S3 would allow it, but emulators and some S3-compatible stores do not (moto's listing fails with a 500
when a delete changes the bucket under it, and the retries make the run slower, not faster).
"""

from __future__ import annotations

import time

from platform_kit.defaults import AWS_CONN_ID, GOOGLE_CONN_ID
from platform_kit.exceptions import PolicyError, UnsafeRootError
from platform_kit.logcleanup.policy import (
    TRIGGER_MARK,
    Cutoffs,
    RetentionPolicy,
    Tree,
    is_attempt_log,
    is_dag_processor_date_dir,
)
from platform_kit.logcleanup.report import CleanupReport
from platform_kit.storage.base import ObjectStore
from platform_kit.storage.url import StorageURL, parse_url
from platform_kit.utils import one_line


def remote_root(url: str | StorageURL, *, allow_bucket_root: bool = False) -> StorageURL:
    """Parse a remote log folder and refuse a bucket root unless allowed.

    :param url: ``s3://bucket/prefix`` or ``gs://bucket/prefix`` (``[logging] remote_base_log_folder``).
    :param allow_bucket_root: accept ``s3://bucket`` (the whole bucket holds Airflow logs).
    :raises StorageError: not an ``s3://`` or ``gs://`` URL.
    :raises UnsafeRootError: a bucket root without ``allow_bucket_root``.
    """
    location = url if isinstance(url, StorageURL) else parse_url(url)
    if not location.prefix and not allow_bucket_root:
        raise UnsafeRootError(
            f"refusing to clean the whole bucket {location}: give the log prefix ({location}/logs, the "
            "[logging] remote_base_log_folder), or allow the bucket root explicitly (--allow-bucket-root) "
            "when the bucket holds nothing but Airflow logs"
        )
    return location


def clean_remote_logs(
    url: str | StorageURL,
    policy: RetentionPolicy,
    *,
    dry_run: bool = False,
    allow_any_layout: bool = False,
    allow_bucket_root: bool = False,
    aws_conn_id: str | None = AWS_CONN_ID,
    google_conn_id: str | None = GOOGLE_CONN_ID,
    store: ObjectStore | None = None,
    now: float | None = None,
) -> CleanupReport:
    """Delete old Airflow log objects under a bucket prefix.

    :param url: ``s3://bucket/prefix`` or ``gs://bucket/prefix``: the ``[logging] remote_base_log_folder``.
    :param policy: what may be deleted (the same policy as a local folder's; ``max_size`` is refused: a
        bucket has no disk to fill).
    :param dry_run: delete nothing; the report says exactly what a real run would delete.
    :param allow_any_layout: also judge ``*.log`` objects outside Airflow's layout (custom
        ``log_filename_template``), with the default retention.
    :param allow_bucket_root: accept a URL without a prefix.
    :param aws_conn_id: the aws connection for ``s3://`` URLs (``None``: boto3's default credentials).
    :param google_conn_id: the google_cloud_platform connection for ``gs://`` URLs.
    :param store: an already open store for the URL's bucket (the connection ids are then unused).
    :param now: reference time (epoch seconds) for ages; tests pin it.
    :raises StorageError: bad URL, missing bucket, no access.
    :raises UnsafeRootError: a bucket root without ``allow_bucket_root``.
    :raises PolicyError: ``policy.max_size`` is set.
    """
    started = time.monotonic()
    now = time.time() if now is None else now
    location = remote_root(url, allow_bucket_root=allow_bucket_root)
    if policy.max_size is not None:
        raise PolicyError(
            "a size cap applies to local log folders only (a bucket has no disk to fill); drop --max-size "
            "for a remote folder and use retention"
        )
    if store is None:
        from platform_kit.storage.clients import open_store

        store, _ = open_store(location, aws_conn_id=aws_conn_id, google_conn_id=google_conn_id)
    elif store.bucket != location.bucket or store.scheme != location.scheme:
        raise ValueError(f"the store is for {store.root}, not {location}")
    store.check_bucket()
    report = CleanupReport(roots=[str(location)], dry_run=dry_run, policy=policy.describe(), remote=True)
    walker = _BucketWalker(store, location, Cutoffs(policy, now), report, allow_any_layout)
    deleter = _Deleter(store, location, report, dry_run)
    walker.walk(deleter)
    deleter.flush()
    walker.add_warnings()
    if report.files_deleted and store.versioning_enabled():
        report.warnings.append(
            f"versioning is on for {store.root}: deleted logs stay as noncurrent versions (and cost storage) "
            "until a lifecycle rule expires noncurrent versions"
        )
    report.duration_seconds = time.monotonic() - started
    return report


class _BucketWalker:
    """One pass over the listing under a prefix; see the module docstring for the rules."""

    def __init__(
        self,
        store: ObjectStore,
        location: StorageURL,
        cutoffs: Cutoffs,
        report: CleanupReport,
        allow_any_layout: bool,
    ) -> None:
        self.store = store
        self.location = location
        self.cutoffs = cutoffs
        self.report = report
        self.allow_any_layout = allow_any_layout
        self.prefix = f"{location.prefix}/" if location.prefix else ""
        self.listed = 0
        self.outside_layout_logs = 0
        self._top: dict[str, Tree | None] = {}

    def tree_of(self, relative: str) -> Tree | None:
        """The tree of a key relative to the prefix, or ``None`` when it is not the cleanup's to judge."""
        first, sep, rest = relative.partition("/")
        if not sep:  # an object right at the prefix: no Airflow log lives there
            return self.cutoffs.default if self.allow_any_layout else None
        try:
            tree = self._top[first]
        except KeyError:
            tree = self.cutoffs.top_level(first)
            if tree is None and is_dag_processor_date_dir(first):
                tree = self.cutoffs.dag_processor  # the prefix is a dag-processor folder
            if tree is None and self.allow_any_layout:
                tree = self.cutoffs.default
            self._top[first] = tree
        if tree is self.cutoffs.callbacks:
            dag_id, sep, _ = rest.partition("/")
            if sep:
                return self.cutoffs.callbacks_of(dag_id)
        return tree

    def walk(self, deleter: _Deleter) -> None:
        """List the prefix once and hand every expired log to ``deleter``; listing errors are reported."""
        report = self.report
        prefix = self.prefix
        skip = len(prefix)
        guard = self.cutoffs.guard
        kept = recent = other = 0
        kept_bytes: dict[str, int] = {}  # per tree: what the logs that stay take (top_dags is by size)
        previous = ""
        # An expired attempt log waits here until the keys after it show whether a trigger log of it is kept.
        pending_key: str | None = None
        pending: tuple[str, int] = ("", 0)
        pending_busy = False
        try:
            for info in self.store.list(prefix):
                key = info.key
                self.listed += 1
                if key <= previous:
                    report.add_error(
                        f"the listing of {self.location} is not in key order ({key!r} after {previous!r}); "
                        "stopped so that no attempt log loses its trigger log"
                    )
                    pending_busy = True  # its trigger logs may be anywhere now: keep it
                    break
                previous = key
                if pending_key is not None and not key.startswith(pending_key):
                    if pending_busy:
                        kept += 1
                        kept_bytes[pending[0]] = kept_bytes.get(pending[0], 0) + pending[1]
                    else:
                        deleter.add(pending_key, *pending)
                    pending_key = None
                if not key.startswith(prefix):  # never trust the server's filtering with deletions
                    other += 1
                    continue
                relative = key[skip:]
                name = relative.rpartition("/")[2]
                tree = self.tree_of(relative)
                if tree is None:
                    other += 1
                    if name.endswith(".log"):
                        self.outside_layout_logs += 1
                    continue
                if not tree.is_log(name) or info.updated is None:
                    other += 1
                    continue
                mtime = info.updated.timestamp()
                if mtime < tree.cutoff:
                    if is_attempt_log(name):
                        pending_key, pending, pending_busy = key, (tree.key, info.size), False
                    else:
                        deleter.add(key, tree.key, info.size)
                    continue
                if mtime >= guard:
                    recent += 1
                else:
                    kept += 1
                kept_bytes[tree.key] = kept_bytes.get(tree.key, 0) + info.size
                if pending_key is not None and key.startswith(pending_key + TRIGGER_MARK):
                    pending_busy = True
        except Exception as exc:
            where = f"after {previous!r}" if previous else "at the start"
            report.add_error(f"listing {self.location} failed {where}: {one_line(exc)}")
            pending_busy = True  # the listing stopped before its trigger logs: keep it
        if pending_key is not None:
            if pending_busy:
                kept += 1
                kept_bytes[pending[0]] = kept_bytes.get(pending[0], 0) + pending[1]
            else:
                deleter.add(pending_key, *pending)
        report.files_kept += kept
        report.skipped_recent += recent
        report.skipped_other_files += other
        for owner, size in kept_bytes.items():
            report.add_kept(owner, size)

    def add_warnings(self) -> None:
        if self.outside_layout_logs:
            self.report.warnings.append(
                f"{self.outside_layout_logs} *.log objects under {self.location} are outside Airflow's log "
                "layout (dag_id=*/, executor_callbacks/, dag_processor/) and were left alone; for a custom "
                "log_filename_template pass --allow-any-layout"
            )
        elif not self.listed:
            self.report.warnings.append(
                f"nothing under {self.location}/: check the prefix against [logging] remote_base_log_folder"
            )


class _Deleter:
    """Collects expired keys into batches of the store's maximum, deletes each batch when it is full, and
    folds every answer into the report (refused keys become errors, the rest count as deleted)."""

    def __init__(
        self, store: ObjectStore, location: StorageURL, report: CleanupReport, dry_run: bool
    ) -> None:
        self.store = store
        self.location = location
        self.report = report
        self.dry_run = dry_run
        self.batch_size = store.max_delete_batch
        self.keys: list[str] = []
        self.owners: list[tuple[str, int]] = []

    def add(self, key: str, owner: str, size: int) -> None:
        """Delete ``key`` (``size`` bytes of ``owner``'s logs) with the next batch."""
        if self.dry_run:
            report = self.report
            report.files_deleted += 1
            report.bytes_deleted += size
            report.add_freed(owner, 1, size)
            return
        self.keys.append(key)
        self.owners.append((owner, size))
        if len(self.keys) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Delete the keys collected so far."""
        if not self.keys:
            return
        keys, owners = self.keys, self.owners
        self.keys, self.owners = [], []
        try:
            failures = self.store.delete_many(keys)
        except Exception as exc:
            span = self.location.url_for(keys[0]) + (f" ... {keys[-1]}" if len(keys) > 1 else "")
            self.report.add_error(
                f"cannot delete {len(keys)} objects ({span}): {one_line(exc)}", count=len(keys)
            )
            return
        report = self.report
        refused = dict(failures)
        freed_by_owner: dict[str, list[int]] = {}
        for key, (owner, size) in zip(keys, owners, strict=True):
            if refused and key in refused:
                report.add_error(f"cannot delete {self.location.url_for(key)}: {refused[key]}")
                continue
            counts = freed_by_owner.setdefault(owner, [0, 0])
            counts[0] += 1
            counts[1] += size
        for owner, (files, size) in freed_by_owner.items():
            report.files_deleted += files
            report.bytes_deleted += size
            report.add_freed(owner, files, size)

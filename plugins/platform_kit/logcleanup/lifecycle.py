"""Bucket lifecycle rules for a remote log folder, for teams that prefer bucket-side expiry.

:func:`plan_lifecycle` turns a retention into the service's own rules (S3: ``Expiration`` plus
``AbortIncompleteMultipartUpload``; GCS: a ``Delete`` action with an ``age`` and ``matchesPrefix``
condition) and lists what such rules cannot express of the kit's policy. :func:`apply_lifecycle` sets them
and keeps every other rule of the bucket.

Expiry rules overlap by prefix and the service applies the shortest matching one, so a per-DAG (or
dag-processor) retention *shorter* than the default becomes a rule of its own on ``dag_id=<id>/`` and
``executor_callbacks/<id>/``; a *longer* one cannot be expressed and is said so.

The kit's rules are recognised on a later ``--apply`` by their prefix (the folder, or one of its
``dag_id=*/``, ``executor_callbacks/*/``, ``dag_processor/`` sub-folders) and, on S3, their ID
(``platform-kit-logs:<prefix>``); they are replaced, everything else is kept as it was.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from platform_kit.defaults import LIFECYCLE_ABORT_MULTIPART_DAYS
from platform_kit.exceptions import PolicyError
from platform_kit.logcleanup.policy import CALLBACKS_DIR_NAME, parse_dag_retention
from platform_kit.logcleanup.remote import remote_root
from platform_kit.storage.base import ObjectStore
from platform_kit.storage.url import StorageURL

RULE_ID_PREFIX = "platform-kit-logs:"
_S3_MAX_ID = 255
# The sub-folders a kit rule may cover below the log folder (per-DAG and dag-processor rules).
_SUBTREE = re.compile(rf"(dag_id=[^/]+|{CALLBACKS_DIR_NAME}/[^/]+|dag_processor)/")

ALWAYS_CANNOT = (
    "keep an attempt log while one of its trigger logs is kept: each object expires on its own age",
    "judge only Airflow's log objects: the rule deletes every object under the prefix, whatever its name",
    "exact ages and sub-day retention: expiry counts whole days (S3 rounds up to the next midnight UTC) "
    "and the service applies it asynchronously, often a day or more late",
    "a dry run first, and a summary of what went (log, XCom, Slack): the bucket deletes silently",
)


@dataclass
class LifecyclePlan:
    """The kit's lifecycle rules for one remote log folder.

    :param location: the folder.
    :param days: the default expiry in days.
    :param rules: the rules in the service's own format (S3 rule dicts, or GCS ``lifecycle.rule`` items).
    :param cannot_express: what of the kit's policy these rules cannot do, one sentence each.
    :param notes: rounding and other remarks.
    """

    location: StorageURL
    days: int
    rules: list[dict[str, Any]]
    cannot_express: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def folder(self) -> str:
        """The key prefix the rules cover (``logs/``; empty for a bucket root)."""
        return f"{self.location.prefix}/" if self.location.prefix else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": str(self.location),
            "days": self.days,
            "rules": self.rules,
            "cannot_express": self.cannot_express,
            "notes": self.notes,
        }


def plan_lifecycle(
    url: str | StorageURL,
    days: int,
    *,
    dag_retention: str | Mapping[str, object] | None = None,
    dag_processor_retention_days: float | None = None,
    allow_bucket_root: bool = False,
) -> LifecyclePlan:
    """The lifecycle rules that expire a remote log folder after ``days``, offline (nothing is read).

    :param url: ``s3://bucket/prefix`` or ``gs://bucket/prefix``.
    :param days: default expiry in whole days (>= 1).
    :param dag_retention: per-DAG retention in days (JSON or mapping), as for ``logs clean``.
    :param dag_processor_retention_days: retention of the ``dag_processor/`` sub-folder.
    :param allow_bucket_root: accept a URL without a prefix (a rule for the whole bucket).
    :raises PolicyError: ``days`` below 1, bad per-DAG retention.
    :raises UnsafeRootError: a bucket root without ``allow_bucket_root``.
    """
    location = remote_root(url, allow_bucket_root=allow_bucket_root)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise PolicyError(f"lifecycle days must be a whole number >= 1, got {days!r}")
    folder = f"{location.prefix}/" if location.prefix else ""
    cannot = list(ALWAYS_CANNOT)
    notes: list[str] = []
    shorter: list[tuple[int, list[str]]] = []  # (days, sub-folder prefixes)

    def subtree(label: str, retention: float, prefixes: list[str]) -> None:
        whole = max(1, math.ceil(retention))
        if whole != retention:
            notes.append(f"{label}: {retention:g} days rounded up to {whole} (rules count whole days)")
        if whole < days:
            shorter.append((whole, prefixes))
        elif whole > days:
            cannot.append(
                f"{label}: {retention:g} days is longer than the folder's {days}; overlapping rules apply "
                f"the shortest expiry, so these logs would go after {days} days"
            )

    per_dag = parse_dag_retention(dag_retention)
    for dag_id, retention in sorted(per_dag.items()):
        subtree(
            f"DAG {dag_id}",
            retention,
            [f"{folder}dag_id={dag_id}/", f"{folder}{CALLBACKS_DIR_NAME}/{dag_id}/"],
        )
    if dag_processor_retention_days is not None:
        if dag_processor_retention_days < 0:
            raise PolicyError(
                f"dag-processor retention must be >= 0 days, got {dag_processor_retention_days}"
            )
        subtree("dag-processor logs", dag_processor_retention_days, [f"{folder}dag_processor/"])
    if not per_dag:
        cannot.append(
            f"per-DAG retention longer than {days} days (overlapping rules apply the shortest expiry); "
            "shorter ones become rules of their own with --dag-retention"
        )
    if location.scheme == "s3":
        rules = [_s3_rule(folder, days, abort_multipart=True)]
        rules += [_s3_rule(prefix, whole) for whole, prefixes in shorter for prefix in prefixes]
    else:
        rules = [_gcs_rule([folder], days)] if folder else [_gcs_rule([], days)]
        rules += [_gcs_rule(prefixes, whole) for whole, prefixes in shorter]
    return LifecyclePlan(location, days, rules, cannot, notes)


def apply_lifecycle(store: ObjectStore, plan: LifecyclePlan) -> dict[str, Any]:
    """Set ``plan``'s rules on the bucket, replacing the kit's earlier rules for this folder only.

    :returns: ``kept_rules`` (the bucket's other rules, untouched), ``replaced_rules`` (the kit's earlier
        rules for this folder) and ``notes`` (other rules that also expire objects in this folder;
        versioning).
    :raises StorageError: the rules cannot be read or written.
    """
    config = store.get_lifecycle()
    key = "Rules" if plan.location.scheme == "s3" else "rule"
    current = list(config.get(key) or [])
    ours = [rule for rule in current if _owned(rule, plan)]
    others = [rule for rule in current if not _owned(rule, plan)]
    notes = []
    for rule in others:
        overlap = _overlapping_expiry(rule, plan)
        if overlap:
            notes.append(overlap)
    if store.versioning_enabled():
        notes.append(
            "versioning is on: expiry only hides objects behind delete markers; add a rule that expires "
            "noncurrent versions to free the storage"
        )
    store.put_lifecycle({**config, key: [*others, *plan.rules]})
    return {"kept_rules": len(others), "replaced_rules": len(ours), "notes": notes}


def _rule_id(prefix: str) -> str:
    text = f"{RULE_ID_PREFIX}{prefix}"
    if len(text) <= _S3_MAX_ID:
        return text
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:16]
    return f"{RULE_ID_PREFIX}{digest}:{prefix[-(_S3_MAX_ID - len(RULE_ID_PREFIX) - 18) :]}"


def _s3_rule(prefix: str, days: int, *, abort_multipart: bool = False) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "ID": _rule_id(prefix),
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "Expiration": {"Days": days},
    }
    if abort_multipart:
        rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": LIFECYCLE_ABORT_MULTIPART_DAYS}
    return rule


def _gcs_rule(prefixes: list[str], days: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"age": days}
    if prefixes:
        condition["matchesPrefix"] = prefixes
    return {"action": {"type": "Delete"}, "condition": condition}


def _covers(prefix: str, plan: LifecyclePlan) -> bool:
    """Whether ``prefix`` is the folder itself or one of the sub-folders the kit writes rules for."""
    folder = plan.folder
    return prefix == folder or (prefix.startswith(folder) and bool(_SUBTREE.fullmatch(prefix[len(folder) :])))


def _s3_prefix(rule: Mapping[str, Any]) -> str:
    rule_filter = rule.get("Filter") or {}
    return str(
        rule_filter.get("Prefix") or (rule_filter.get("And") or {}).get("Prefix") or rule.get("Prefix") or ""
    )


def _owned(rule: Mapping[str, Any], plan: LifecyclePlan) -> bool:
    if plan.location.scheme == "s3":
        return str(rule.get("ID", "")).startswith(RULE_ID_PREFIX) and _covers(_s3_prefix(rule), plan)
    condition = rule.get("condition") or {}
    prefixes = condition.get("matchesPrefix") or [""]
    return (
        (rule.get("action") or {}).get("type") == "Delete"
        and set(condition) <= {"age", "matchesPrefix"}
        and all(_covers(prefix, plan) for prefix in prefixes)
    )


def _overlapping_expiry(rule: Mapping[str, Any], plan: LifecyclePlan) -> str | None:
    """A note when another rule also deletes objects of this folder (the shortest expiry wins)."""
    folder = plan.folder
    if plan.location.scheme == "s3":
        expiration = rule.get("Expiration") or {}
        if rule.get("Status") != "Enabled" or not (expiration.get("Days") or expiration.get("Date")):
            return None
        prefixes = [_s3_prefix(rule)]
        name = f"rule {rule.get('ID') or '(no ID)'}"
        when = f"{expiration['Days']} days" if expiration.get("Days") else f"on {expiration['Date']}"
    else:
        if (rule.get("action") or {}).get("type") != "Delete":
            return None
        condition = rule.get("condition") or {}
        prefixes = condition.get("matchesPrefix") or [""]
        name = f"Delete rule {dict(condition)}"
        when = f"{condition['age']} days" if "age" in condition else "on its condition"
    if any(prefix.startswith(folder) or folder.startswith(prefix) for prefix in prefixes):
        return f"{name} also deletes objects in {plan.location}/ ({when}): the shortest matching expiry wins"
    return None

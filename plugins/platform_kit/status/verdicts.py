"""Red, amber or green for each maintenance DAG, with the rule that decided it.

A verdict is the worst of its findings; every finding names its rule in words a person on call reads
at a glance ("no verified backup in 26 h"). The rules, worst first:

=======  =====================================================================================
red      backup: no verified backup taken within ``backup_max_age_hours`` (or none at all)
red      the newest run failed
red      log cleanup: a log volume at or above ``log_volume_critical_percent``
amber    the DAG is not deployed, or its file is gone
amber    paused: nothing is scheduled
amber    not backup: no successful run within ``maintenance_max_age_hours`` (or never)
amber    log cleanup: a log volume at or above ``log_volume_warn_percent``; files it could not delete
amber    the last successful run was a dry run (nothing was deleted); export: it is PLAINTEXT
green    none of the above: says how fresh the last success is
=======  =====================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from platform_kit import defaults
from platform_kit.status import catalog
from platform_kit.status.model import DagStatus
from platform_kit.status.summaries import backup_facts, export_plaintext, log_volumes, was_dry_run
from platform_kit.utils import human_duration

GREEN, AMBER, RED = "green", "amber", "red"
LEVELS = (GREEN, AMBER, RED)
_SEVERITY = {level: rank for rank, level in enumerate(LEVELS)}


#: A dry run deletes nothing; automatic runs stay dry until the DAG is confirmed (``confirmation``).
DRY_RUN_RULE = (
    "last successful run was a dry run: nothing was deleted (automatic runs stay dry until one real run "
    "by hand)"
)
#: The key of the finding "the newest run failed" (the page links its rule to the failed task's log).
LAST_RUN_FAILED = "last_run_failed"


@dataclass(frozen=True)
class Finding:
    """One rule that applies to a DAG: its level, the rule in words, and a key naming the rule."""

    level: str
    rule: str
    key: str = ""


@dataclass(frozen=True)
class Thresholds:
    """The limits the rules use; :meth:`from_settings` reads them from ``[platform_kit]``."""

    backup_max_age_hours: float = defaults.BACKUP_MAX_AGE_HOURS
    maintenance_max_age_hours: float = defaults.MAINTENANCE_MAX_AGE_HOURS
    log_volume_warn_percent: float = defaults.LOG_VOLUME_WARN_PERCENT
    log_volume_critical_percent: float = defaults.LOG_VOLUME_CRITICAL_PERCENT

    @classmethod
    def from_settings(cls) -> Thresholds:
        from platform_kit import settings

        warn, critical = settings.log_volume_thresholds()
        return cls(settings.backup_max_age_hours(), settings.maintenance_max_age_hours(), warn, critical)


def _ago(now: datetime, then: datetime) -> str:
    return f"{human_duration((now - then).total_seconds())} ago"


def _hours(value: float) -> str:
    return f"{value:g} h"


def judge(status: DagStatus, now: datetime, limits: Thresholds | None = None) -> list[Finding]:
    """Every finding for ``status`` at ``now``, worst first; a single green one when all is well."""
    limits = limits or Thresholds()
    kind = status.dag.kind
    found: list[Finding] = []

    if kind == catalog.BACKUP:
        facts = backup_facts(status.last_verified)
        if facts is None:
            found.append(Finding(RED, "no verified backup yet"))
        elif (now - facts.taken_at).total_seconds() > limits.backup_max_age_hours * 3600:
            found.append(
                Finding(
                    RED,
                    f"no verified backup in {_hours(limits.backup_max_age_hours)} "
                    f"(newest taken {_ago(now, facts.taken_at)})",
                )
            )
    last = status.last_run
    if last is not None and last.run.state == "failed":
        failed = ", ".join(t.task_id for t in last.failed_tasks if t.state == "failed")
        when = f" {_ago(now, last.run.when)}" if last.run.when else ""
        rule = f"last run failed{when}" + (f" in {failed}" if failed else "")
        found.append(Finding(RED, rule, LAST_RUN_FAILED))
    if kind == catalog.LOG_CLEANUP:
        fullest = max(log_volumes(status.last_success), key=lambda v: v["used_percent"], default=None)
        if fullest is not None:
            percent = fullest["used_percent"]
            where = f" on {fullest['host']}" if fullest.get("host") else ""
            if percent >= limits.log_volume_critical_percent:
                found.append(Finding(RED, f"log volume{where} {percent:.0f} % full"))
            elif percent >= limits.log_volume_warn_percent:
                found.append(Finding(AMBER, f"log volume{where} {percent:.0f} % full"))

    if not status.deployed:
        found.append(Finding(AMBER, "DAG not found in this Airflow: is the platform-kit bundle configured?"))
    elif status.stale:
        found.append(Finding(AMBER, "DAG file is gone: nothing will be scheduled"))
    elif status.paused:
        found.append(
            Finding(AMBER, "paused: " + ("no new backups" if kind == catalog.BACKUP else "nothing runs"))
        )
    if kind != catalog.BACKUP:
        success = status.last_success
        if success is None:
            found.append(Finding(AMBER, "never succeeded" if last is not None else "never ran"))
        elif (
            success.run.when
            and (now - success.run.when).total_seconds() > limits.maintenance_max_age_hours * 3600
        ):
            found.append(
                Finding(
                    AMBER,
                    f"no successful run in {_hours(limits.maintenance_max_age_hours)} "
                    f"(last {_ago(now, success.run.when)})",
                )
            )
        if was_dry_run(success):
            found.append(Finding(AMBER, DRY_RUN_RULE))
        if kind == catalog.LOG_CLEANUP and success is not None:
            errors = sum(
                s.get("errors") or 0 for s in success.summaries.values() if isinstance(s.get("errors"), int)
            )
            if errors:
                found.append(Finding(AMBER, f"{errors} log files could not be deleted"))
        if kind == catalog.EXPORT and export_plaintext(success):
            found.append(Finding(AMBER, "last export is PLAINTEXT: set encrypt and the export key"))

    if not found:
        facts = backup_facts(status.last_verified) if kind == catalog.BACKUP else None
        success = status.last_success.run.when if status.last_success else None
        if facts is not None:
            found.append(Finding(GREEN, f"verified backup taken {_ago(now, facts.taken_at)}"))
        else:
            found.append(Finding(GREEN, "last success" + (f" {_ago(now, success)}" if success else "")))
    return sorted(found, key=lambda f: -_SEVERITY[f.level])


def verdict(findings: list[Finding]) -> str:
    """The worst level among ``findings``."""
    return max((f.level for f in findings), key=_SEVERITY.__getitem__, default=GREEN)

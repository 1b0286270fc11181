"""Per-team routing: which connection a DAG's alerts go to.

The first of these that names an existing, usable connection wins:

1. the explicit ``conn_id`` given to :class:`~platform_kit.alerts.notifier.SlackNotifier`;
2. a DAG tag ``alerts:<conn_id>`` (explicit per-DAG override, e.g. ``alerts:slack_payments_oncall``);
3. a DAG tag ``team:<team>`` -> connection ``slack_<team>``;
4. the owner of the task (then the DAG's owners) -> connection ``slack_<owner>``;
5. ``slack_default``;
6. the Variable ``slack_url`` (what the tutorials use).

Team and owner names are normalised for connection ids: lower case, anything but ``a-z0-9_`` becomes
``_`` (``Data-Eng`` -> ``slack_data_eng``). A ``slack_<team>`` connection may be of type ``telegram``: the
name says who is alerted, the connection type says how. The tag ``alerts:off`` is reserved for the
cluster policy's opt-out and never names a connection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from platform_kit.alerts.connections import AlertTarget, aget_target, get_target, variable_target
from platform_kit.settings import ALERTS_OPT_OUT_TAG

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "slack_default"
CONN_PREFIX = "slack_"
OVERRIDE_TAG_PREFIX = "alerts:"
TEAM_TAG_PREFIX = "team:"
# Airflow's default owner says nothing about a team.
_GENERIC_OWNERS = frozenset({"", "airflow", "default", "none"})


def team_conn_id(team: str) -> str:
    """``'Data-Eng'`` -> ``'slack_data_eng'``."""
    return CONN_PREFIX + re.sub(r"[^a-z0-9_]+", "_", team.strip().lower()).strip("_")


def candidate_conn_ids(context: Mapping[str, Any], override: str | None = None) -> list[str]:
    """Connection ids to try for this callback context, most specific first, without duplicates."""
    dag = context.get("dag")
    tags = [str(t) for t in (getattr(dag, "tags", None) or ())]
    return candidates_for(tags, list(_owners(context.get("task"), dag)), override)


def candidates_for(tags: Iterable[str], owners: Iterable[str], override: str | None = None) -> list[str]:
    """Connection ids for a DAG with these tags and (non-generic) owners, most specific first."""
    tags = sorted(str(t) for t in tags)
    candidates: list[str] = []
    if override:
        candidates.append(override)
    candidates.extend(
        tag[len(OVERRIDE_TAG_PREFIX) :].strip()
        for tag in tags
        if tag.startswith(OVERRIDE_TAG_PREFIX) and tag != ALERTS_OPT_OUT_TAG
    )
    candidates.extend(
        team_conn_id(tag[len(TEAM_TAG_PREFIX) :]) for tag in tags if tag.startswith(TEAM_TAG_PREFIX)
    )
    candidates.extend(team_conn_id(owner) for owner in owners)
    candidates.append(DEFAULT_CONN_ID)
    seen: set[str] = set()
    return [c for c in candidates if c and c != CONN_PREFIX and not (c in seen or seen.add(c))]


def dag_routing_facts(dag: Any) -> dict[str, list[str]]:
    """What routing needs to know about a DAG, as JSON, for callbacks Airflow gives no DAG (deadlines)."""
    return {
        "dag_tags": sorted(str(t) for t in (getattr(dag, "tags", None) or ())),
        "dag_owners": list(_owners(None, dag)),
    }


def _owners(task: Any, dag: Any) -> Iterable[str]:
    owners: list[str] = []
    task_owner = getattr(task, "owner", None)
    if task_owner:
        owners.append(str(task_owner))
    default_owner = (getattr(dag, "default_args", None) or {}).get("owner")
    if default_owner:
        owners.append(str(default_owner))
    for name in owners:
        for part in name.split(","):
            if part.strip().lower() not in _GENERIC_OWNERS:
                yield part.strip()


def resolve_target(context: Mapping[str, Any], override: str | None = None) -> AlertTarget | None:
    """The target for this context, following the order in the module docstring; ``None`` if nothing is
    configured (logged once at error level by the caller)."""
    return resolve_candidates(candidate_conn_ids(context, override), override)


def resolve_candidates(candidates: Iterable[str], override: str | None = None) -> AlertTarget | None:
    """The first usable target among ``candidates``, else the ``slack_url`` Variable's."""
    for conn_id in candidates:
        target = get_target(conn_id)
        if target is not None:
            _warn_fallback(override, conn_id)
            return target
    return variable_target()


async def aresolve_candidates(candidates: Iterable[str], override: str | None = None) -> AlertTarget | None:
    """:func:`resolve_candidates` on an event loop (the triggerer): lookups never block the loop."""
    from platform_kit.version_compat import to_thread_with_sdk

    for conn_id in candidates:
        target = await aget_target(conn_id)
        if target is not None:
            _warn_fallback(override, conn_id)
            return target
    return await to_thread_with_sdk(variable_target)


def _warn_fallback(override: str | None, used: str) -> None:
    if override and used != override:
        log.warning(
            "Alert connection %s not found; sending to %s instead. Create it or fix the name.", override, used
        )

"""One reading of the platform from the metadata DB, for the page and the metrics (api-server only).

Runs in the api-server, where Airflow's ORM is available; task code never imports this module (the ORM
guard in ``tests/unit/test_dag_integrity.py`` allows it for that reason). Its cost does not grow with the
DB: four statements (the DAG rows; every run shown, in one ``UNION ALL`` of indexed ``LIMIT 1`` lookups;
their task instances; their summaries) plus the three of the health check. XCom is read only for the
runs shown (at most three per DAG: the newest, the newest successful and, for backups, the newest
verified), by ``dag_run`` primary key. The health of the components comes from the same function as
``/api/v2/monitor/health``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, and_, literal, or_, select, union_all
from sqlalchemy.orm import Session

from platform_kit import __version__
from platform_kit.status.catalog import BACKUP_DAG, BACKUP_VERIFY_TASK, MAINTENANCE_DAGS
from platform_kit.status.model import Component, DagStatus, PlatformStatus, Run, RunDetail, TaskTry
from platform_kit.utils import one_line

#: XCom keys that hold a summary: the return value, and what a failing log cleanup pushes first.
SUMMARY_KEYS = ("return_value", "summary")
COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")


def _run(row: Any) -> Run:
    return Run(
        id=row.id,
        run_id=row.run_id,
        state=str(row.state or "none"),
        run_after=row.run_after,
        start_date=row.start_date,
        end_date=row.end_date,
    )


def _summary(value: Any) -> dict[str, Any] | None:
    """A summary dict from an XCom column value (JSON text or already decoded), or ``None``."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def read_components() -> list[Component]:
    """The components of ``/api/v2/monitor/health``, from the same function that endpoint calls."""
    from platform_kit.version_compat import airflow_health

    body = airflow_health()
    components = []
    for name in COMPONENTS:
        info = body.get(name) or {}
        beat = next((v for k, v in info.items() if k.startswith("latest_") and v), None)
        heartbeat = datetime.fromisoformat(beat) if isinstance(beat, str) else None
        components.append(Component(name, info.get("status"), heartbeat))
    return components


def _runs_query(m: Any, dag_ids: list[str]) -> Any:
    """One statement for every run the page shows: per DAG the newest and the newest successful, and the
    backup DAG's newest run whose ``verify`` task succeeded. Each branch is an indexed ``LIMIT 1`` lookup
    (``dag_run`` by dag_id and by dag_id and state; ``task_instance`` by dag_id and task_id); ``UNION
    ALL`` saves the round trips, and works on every database Airflow supports."""
    dr, ti = m.dag_run, m.task_instance
    columns = (dr.id, dr.run_id, dr.state, dr.run_after, dr.start_date, dr.end_date)

    def tagged(dag_id: str, role: str) -> Any:
        return select(literal(dag_id, String).label("for_dag"), literal(role, String).label("role"), *columns)

    branches = []
    for dag_id in dag_ids:
        branches.append(
            tagged(dag_id, "newest").where(dr.dag_id == dag_id).order_by(dr.run_after.desc(), dr.id.desc())
        )
        branches.append(
            tagged(dag_id, "success")
            .where(dr.dag_id == dag_id, dr.state == "success", dr.end_date.is_not(None))
            .order_by(dr.end_date.desc())
        )
    branches.append(
        tagged(BACKUP_DAG.dag_id, "verified")
        .join(ti, and_(ti.dag_id == dr.dag_id, ti.run_id == dr.run_id))
        .where(ti.dag_id == BACKUP_DAG.dag_id, ti.task_id == BACKUP_VERIFY_TASK, ti.state == "success")
        .order_by(ti.end_date.desc())
    )
    return union_all(*(select(branch.limit(1).subquery()) for branch in branches))


def read_status(session: Session, now: datetime | None = None) -> PlatformStatus:
    """Read every maintenance DAG's state, newest runs and their summaries (components: separately)."""
    from platform_kit.version_compat import airflow_version_text, status_models

    m = status_models()
    status = PlatformStatus(
        generated_at=now or datetime.now(UTC), airflow_version=airflow_version_text(), kit_version=__version__
    )
    dag_ids = [dag.dag_id for dag in MAINTENANCE_DAGS]
    rows = session.execute(
        select(m.dag.dag_id, m.dag.is_paused, m.dag.is_stale).where(m.dag.dag_id.in_(dag_ids))
    ).all()
    known = {row.dag_id: row for row in rows}
    runs = {(row.for_dag, row.role): _run(row) for row in session.execute(_runs_query(m, dag_ids))}
    roles = {"newest": "last_run", "success": "last_success", "verified": "last_verified"}
    for dag in MAINTENANCE_DAGS:
        entry = DagStatus(dag)
        status.dags.append(entry)
        row = known.get(dag.dag_id)
        if row is None:
            continue
        entry.deployed, entry.paused, entry.stale = True, bool(row.is_paused), bool(row.is_stale)
        for role, attribute in roles.items():
            if (dag.dag_id, role) in runs:
                setattr(entry, attribute, RunDetail(runs[dag.dag_id, role]))
    _fill_details(session, m, status.dags)
    return status


def _details(dags: Iterable[DagStatus]) -> dict[int, tuple[DagStatus, RunDetail]]:
    found: dict[int, tuple[DagStatus, RunDetail]] = {}
    for dag in dags:
        for detail in (dag.last_run, dag.last_success, dag.last_verified):
            if detail is not None:
                found.setdefault(detail.run.id, (dag, detail))
    return found


def _fill_details(session: Session, m: Any, dags: list[DagStatus]) -> None:
    """Task instances and summaries of every run shown: one query each, by primary or indexed keys."""
    details = _details(dags)
    if not details:
        return
    # Point the other roles of a run at the same object, so filling one fills all.
    for dag in dags:
        for attr in ("last_run", "last_success", "last_verified"):
            detail = getattr(dag, attr)
            if detail is not None:
                setattr(dag, attr, details[detail.run.id][1])
    ti = m.task_instance
    pairs = [and_(ti.dag_id == dag.dag_id, ti.run_id == d.run.run_id) for dag, d in details.values()]
    for row in session.execute(
        select(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number, ti.state).where(or_(*pairs))
    ):
        detail = next(
            d for dag, d in details.values() if dag.dag_id == row.dag_id and d.run.run_id == row.run_id
        )
        detail.tasks.append(TaskTry(row.task_id, row.map_index, row.try_number or 0, row.state))
    for detail in {id(d): d for _, d in details.values()}.values():
        detail.tasks.sort(key=lambda t: (t.task_id, t.map_index))

    xcom = m.xcom
    rows = session.execute(
        select(xcom.dag_run_id, xcom.task_id, xcom.map_index, xcom.key, xcom.value).where(
            xcom.dag_run_id.in_(list(details)), xcom.key.in_(SUMMARY_KEYS)
        )
    ).all()
    # A return value wins over a pushed "summary" of the same task (a failed cleanup pushes the latter).
    for row in sorted(rows, key=lambda r: r.key != "return_value"):
        dag, detail = details[row.dag_run_id]
        if not dag.dag.holds_summary(row.task_id):
            continue
        key = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
        summary = _summary(row.value)
        if summary is not None and key not in detail.summaries:
            detail.summaries[key] = summary


def read_platform(session_factory, now: datetime | None = None) -> PlatformStatus:
    """The whole reading: :func:`read_status` in a fresh session, then the components' health.

    Never raises for a database problem: it becomes ``status.error`` (one line), and the page and the
    metrics say so (``platform_kit_status_up 0``) instead of failing.
    """
    try:
        with session_factory() as session:
            status = read_status(session, now)
    except Exception as exc:
        from platform_kit.version_compat import airflow_version_text

        status = PlatformStatus(
            generated_at=now or datetime.now(UTC),
            airflow_version=airflow_version_text(),
            kit_version=__version__,
            error=f"could not read the metadata DB: {one_line(exc)}",
        )
    try:
        status.components = read_components()
    except Exception as exc:
        status.components = [Component("metadatabase", "unhealthy")]
        status.error = status.error or f"could not read the components' health: {one_line(exc)}"
    return status

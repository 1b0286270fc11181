"""One reading of the platform from the metadata DB, for the page and the metrics (api-server only).

Runs in the api-server, where Airflow's ORM is available; task code never imports this module (the ORM
guard in ``tests/unit/test_dag_integrity.py`` allows it for that reason). Cost is fixed, whatever the
size of the DB: about a dozen indexed queries for the four maintenance DAGs, and the XCom of at most three
runs per DAG (the newest, the newest successful and, for backups, the newest verified) read by their
``dag_run`` primary key. The health of the components comes from the same function as
``/api/v2/monitor/health``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
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
    run_columns = (
        m.dag_run.id,
        m.dag_run.run_id,
        m.dag_run.state,
        m.dag_run.run_after,
        m.dag_run.start_date,
        m.dag_run.end_date,
    )
    for dag in MAINTENANCE_DAGS:
        entry = DagStatus(dag)
        status.dags.append(entry)
        row = known.get(dag.dag_id)
        if row is None:
            continue
        entry.deployed, entry.paused, entry.stale = True, bool(row.is_paused), bool(row.is_stale)
        newest = session.execute(
            select(*run_columns)
            .where(m.dag_run.dag_id == dag.dag_id)
            .order_by(m.dag_run.run_after.desc(), m.dag_run.id.desc())
            .limit(1)
        ).first()
        if newest is None:
            continue
        entry.last_run = RunDetail(_run(newest))
        success = session.execute(
            select(*run_columns)
            .where(
                m.dag_run.dag_id == dag.dag_id,
                m.dag_run.state == "success",
                m.dag_run.end_date.is_not(None),
            )
            .order_by(m.dag_run.end_date.desc())
            .limit(1)
        ).first()
        if success is not None:
            entry.last_success = RunDetail(_run(success))

    backup = next(d for d in status.dags if d.dag_id == BACKUP_DAG.dag_id)
    if backup.last_run is not None:
        ti = m.task_instance
        verified = session.execute(
            select(*run_columns)
            .join(ti, and_(ti.dag_id == m.dag_run.dag_id, ti.run_id == m.dag_run.run_id))
            .where(ti.dag_id == BACKUP_DAG.dag_id, ti.task_id == BACKUP_VERIFY_TASK, ti.state == "success")
            .order_by(ti.end_date.desc())
            .limit(1)
        ).first()
        if verified is not None:
            backup.last_verified = RunDetail(_run(verified))

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

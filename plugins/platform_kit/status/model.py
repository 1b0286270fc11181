"""What one reading of the platform holds: plain data, filled by :mod:`~platform_kit.status.collect`.

Everything the page, the verdicts and the metrics need, and nothing else: no log text, no connection
field, no variable value. Times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from platform_kit.status.catalog import MaintenanceDag

#: The states a DAG run's ``state`` metric reports (one series each); ``none`` = the DAG never ran.
RUN_STATES = ("success", "failed", "running", "queued", "none")


@dataclass(frozen=True)
class Run:
    """One DAG run. ``id`` is the ``dag_run`` primary key (XComs hang off it)."""

    id: int
    run_id: str
    state: str
    run_after: datetime | None
    start_date: datetime | None
    end_date: datetime | None

    @property
    def when(self) -> datetime | None:
        """When it ended, else when it started, else when it was due."""
        return self.end_date or self.start_date or self.run_after


@dataclass(frozen=True)
class TaskTry:
    """The latest try of a task instance in a run (what the row's log link opens)."""

    task_id: str
    map_index: int
    try_number: int
    state: str | None


@dataclass
class RunDetail:
    """A run with its task instances and the summaries its tasks returned (``{task_id: dict}``)."""

    run: Run
    tasks: list[TaskTry] = field(default_factory=list)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def task(self, task_id: str) -> TaskTry | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)

    @property
    def failed_tasks(self) -> list[TaskTry]:
        return [t for t in self.tasks if t.state in ("failed", "upstream_failed")]


@dataclass
class DagStatus:
    """One maintenance DAG.

    :param deployed: the DAG is in this Airflow's metadata DB (the bundle is configured).
    :param last_run: the newest run, whatever its state.
    :param last_success: the newest successful run, with the summary the row shows.
    :param last_verified: backup only: the newest run whose ``verify`` task succeeded.
    """

    dag: MaintenanceDag
    deployed: bool = False
    paused: bool | None = None
    stale: bool = False
    last_run: RunDetail | None = None
    last_success: RunDetail | None = None
    last_verified: RunDetail | None = None

    @property
    def dag_id(self) -> str:
        return self.dag.dag_id


@dataclass(frozen=True)
class Component:
    """One component of ``/api/v2/monitor/health``; ``status`` healthy, unhealthy or ``None`` (never ran)."""

    name: str
    status: str | None
    heartbeat: datetime | None = None

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"


@dataclass
class PlatformStatus:
    """One reading. ``error`` is set (one line) when the metadata DB could not be read."""

    generated_at: datetime
    dags: list[DagStatus] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    airflow_version: str = ""
    kit_version: str = ""
    error: str | None = None

"""The Prometheus exposition of one :class:`~platform_kit.status.model.PlatformStatus`.

Built with ``prometheus-client`` from the same reading the page shows, so a graph and the page never
disagree. Names follow Prometheus' conventions: ``platform_kit_`` prefix, base units in the name
(``_seconds``, ``_bytes``, ``_ratio``), ``_total`` for the one counter, states as label values with one
series each (1 for the current state). Nothing secret is ever a value or a label: DAG ids, table names,
component names, host names and numbers only. Every metric is listed in ``docs/monitoring.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from platform_kit.status import catalog
from platform_kit.status.model import RUN_STATES, DagStatus, PlatformStatus
from platform_kit.status.summaries import (
    backup_facts,
    log_cleanup_where,
    log_volumes,
    rows_per_table,
    was_dry_run,
)
from platform_kit.status.verdicts import LEVELS, Finding, verdict

PREFIX = "platform_kit_"

#: name -> (type, help); the single list ``docs/monitoring.md`` and the tests are checked against.
METRICS: dict[str, tuple[str, str]] = {
    "status_up": ("gauge", "1 when the kit could read the metadata DB for this scrape, else 0."),
    "status_read_duration_seconds": (
        "gauge",
        "Seconds the kit took to read the metadata DB for this scrape.",
    ),
    "status_read_errors": (
        "counter",
        "Scrapes of this api-server process that could not read the metadata DB.",
    ),
    "info": ("gauge", "Always 1; the labels carry the platform-kit and Airflow versions."),
    "backup_last_verified_timestamp_seconds": (
        "gauge",
        "Unix time the newest verified backup was taken (its dump started); 0 if there is none.",
    ),
    "backup_last_verified_size_bytes": ("gauge", "Size of the newest verified backup's dump."),
    "backup_last_verified_restore_tested": (
        "gauge",
        "1 if the newest verified backup was also restored into a scratch database, else 0.",
    ),
    "backup_retained_sets": ("gauge", "Verified backups the last retention kept."),
    "dag_deployed": ("gauge", "1 if the maintenance DAG is in this Airflow's metadata DB, else 0."),
    "dag_paused": ("gauge", "1 if the maintenance DAG is paused, else 0."),
    "dag_last_run_state": ("gauge", "1 for the state of the DAG's newest run (state=none: never ran)."),
    "dag_last_run_timestamp_seconds": (
        "gauge",
        "Unix time the DAG's newest run ended (or started, if running).",
    ),
    "dag_last_success_timestamp_seconds": (
        "gauge",
        "Unix time the DAG's newest successful run ended; 0 if never.",
    ),
    "dag_verdict": ("gauge", "1 for the Platform page's verdict of the DAG (green, amber or red)."),
    "log_cleanup_last_deleted_files": (
        "gauge",
        "Files the last successful log cleanup deleted (0 for a dry run).",
    ),
    "log_cleanup_last_freed_bytes": (
        "gauge",
        "Bytes the last successful log cleanup freed (0 for a dry run).",
    ),
    "log_volume_used_ratio": (
        "gauge",
        "Share (0-1) of the log volume in use when the last log cleanup ended.",
    ),
    "log_volume_size_bytes": ("gauge", "Size of the log volume, as the last log cleanup measured it."),
    "log_volume_used_bytes": ("gauge", "Bytes in use on the log volume when the last log cleanup ended."),
    "db_cleanup_last_deleted_rows": ("gauge", "Rows the last successful DB cleanup deleted, per table."),
    "export_last_items": ("gauge", "Variables and connections in the last successful export."),
    "export_last_size_bytes": ("gauge", "Size of the last successful export's artifact."),
    "component_healthy": ("gauge", "1 if /api/v2/monitor/health reports the component healthy, else 0."),
    "component_last_heartbeat_timestamp_seconds": ("gauge", "Unix time of the component's latest heartbeat."),
}


def _ts(value) -> float:
    return value.timestamp() if value is not None else 0.0


class _Families:
    """Creates each family once, with its documented help text, and yields the ones that got samples."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        kind, help_text = METRICS[name]
        family = self._families.get(name)
        if family is None:
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = cls(PREFIX + name, help_text, labels=sorted(labels or {}))
            self._families[name] = family
        family.add_metric([str(labels[k]) for k in sorted(labels or {})], float(value))

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


class StatusCollector(Collector):
    """A ``prometheus_client`` collector over one reading.

    :param status: the reading.
    :param findings: ``{dag_id: findings}`` from :func:`platform_kit.status.verdicts.judge`.
    :param read_errors_total: scrapes of this process that failed to read the DB so far.
    :param read_seconds: how long this reading took.
    """

    def __init__(
        self,
        status: PlatformStatus,
        findings: Mapping[str, list[Finding]],
        *,
        read_errors_total: int = 0,
        read_seconds: float = 0.0,
    ) -> None:
        self.status = status
        self.findings = findings
        self.read_errors_total = read_errors_total
        self.read_seconds = read_seconds

    def collect(self) -> Iterator[Metric]:
        out = _Families()
        status = self.status
        out.add("status_up", 0 if status.error else 1)
        out.add("status_read_duration_seconds", self.read_seconds)
        out.add("status_read_errors", self.read_errors_total)
        out.add("info", 1, {"version": status.kit_version, "airflow_version": status.airflow_version})
        for component in status.components:
            out.add("component_healthy", 1 if component.healthy else 0, {"component": component.name})
            if component.heartbeat is not None:
                out.add(
                    "component_last_heartbeat_timestamp_seconds",
                    _ts(component.heartbeat),
                    {"component": component.name},
                )
        if status.error:
            return iter(out)
        for dag in status.dags:
            labels = {"dag_id": dag.dag_id}
            out.add("dag_deployed", 1 if dag.deployed else 0, labels)
            if dag.deployed:
                out.add("dag_paused", 1 if dag.paused else 0, labels)
            current = dag.last_run.run.state if dag.last_run else "none"
            for state in RUN_STATES:
                out.add("dag_last_run_state", 1 if state == current else 0, {**labels, "state": state})
            if dag.last_run is not None:
                out.add("dag_last_run_timestamp_seconds", _ts(dag.last_run.run.when), labels)
            success = dag.last_success.run.when if dag.last_success else None
            out.add("dag_last_success_timestamp_seconds", _ts(success), labels)
            level = verdict(self.findings.get(dag.dag_id, []))
            for name in LEVELS:
                out.add("dag_verdict", 1 if name == level else 0, {**labels, "verdict": name})
            self._kind_metrics(out, dag)
        return iter(out)

    @staticmethod
    def _kind_metrics(out: _Families, dag: DagStatus) -> None:
        """What each kind of maintenance DAG adds: the backup's facts, the last run's counts."""
        kind = dag.dag.kind
        if kind == catalog.BACKUP:
            facts = backup_facts(dag.last_verified)
            out.add("backup_last_verified_timestamp_seconds", _ts(facts.taken_at if facts else None))
            if facts is not None:
                if facts.size is not None:
                    out.add("backup_last_verified_size_bytes", facts.size)
                out.add("backup_last_verified_restore_tested", 1 if facts.restore_test else 0)
            retention = (dag.last_success.summaries.get("retention") if dag.last_success else None) or {}
            if isinstance(retention.get("kept"), int):
                out.add("backup_retained_sets", retention["kept"])
            return
        detail = dag.last_success
        if detail is None:
            return
        dry_run = was_dry_run(detail)
        if kind == catalog.LOG_CLEANUP:
            for task_id, summary in sorted(detail.summaries.items()):
                host = {"host": log_cleanup_where(task_id, summary, for_label=True)}
                if isinstance(summary.get("files_deleted"), int):
                    files = 0 if summary.get("dry_run") else summary["files_deleted"]
                    out.add("log_cleanup_last_deleted_files", files, host)
                if isinstance(summary.get("bytes_deleted"), int):
                    freed = 0 if summary.get("dry_run") else summary["bytes_deleted"]
                    out.add("log_cleanup_last_freed_bytes", freed, host)
            for volume in log_volumes(detail):
                host = {"host": str(volume["host"])}
                out.add("log_volume_used_ratio", volume["used_percent"] / 100.0, host)
                if isinstance(volume.get("total_bytes"), int):
                    out.add("log_volume_size_bytes", volume["total_bytes"], host)
                if isinstance(volume.get("used_bytes"), int):
                    out.add("log_volume_used_bytes", volume["used_bytes"], host)
        elif kind == catalog.DB_CLEANUP and not dry_run:
            for table, rows in rows_per_table(detail).items():
                out.add("db_cleanup_last_deleted_rows", rows, {"table": table})
        elif kind == catalog.EXPORT and not dry_run:
            summary = detail.summaries.get("export") or {}
            for item in ("variables", "connections"):
                if isinstance(summary.get(item), int):
                    out.add("export_last_items", summary[item], {"type": item})
            if isinstance(summary.get("bytes"), int):
                out.add("export_last_size_bytes", summary["bytes"])


def exposition(collector: Collector, accept_header: str | None = None) -> tuple[bytes, str]:
    """``(body, content type)``: the text format, or OpenMetrics when the scraper asks for it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    encoder, content_type = choose_encoder(accept_header or "")
    return encoder(registry), content_type

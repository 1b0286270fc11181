"""The kit's settings: the ``[platform_kit]`` section of Airflow's configuration, and the names of the
Variables and tags the kit reads.

Set them like any Airflow option, in ``airflow.cfg`` or as ``AIRFLOW__PLATFORM_KIT__<OPTION>``, on every
component that runs the feature (the dag-processor parses DAG files, workers run tasks). Every read goes
through this module; nothing else calls ``conf`` for ``[platform_kit]``.

| option | default | used by |
|---|---|---|
| ``log_cleanup_queues`` | empty | log cleanup: one task per Celery queue (read at parse time) |
| ``alerts_policy`` | ``False`` | the opt-in alerting cluster policy |
| ``alerts_policy_retries`` | ``1`` | retries the policy gives tasks that set none |
| ``deadline_policy_tag`` | empty | DAGs with this tag and no deadline get one (empty = off) |
| ``deadline_policy_minutes`` | ``120`` | that deadline, in minutes after its reference |
| ``deadline_policy_reference`` | ``queued`` | what it counts from: ``queued`` or ``logical_date`` |
| ``deadline_followup_poll_seconds`` | ``10`` | how often the triggerer asks a late run's state |
| ``deadline_followup_max_hours`` | ``48`` | how long it watches a late run for the follow-up (0 = none) |
| ``backup_deadline_minutes`` | ``120`` | deadline of the backup DAG after a run is queued (0 = none) |
| ``log_cleanup_deadline_minutes`` | ``60`` | the same for the log cleanup DAG |
| ``db_cleanup_deadline_minutes`` | ``180`` | the same for the metadata DB cleanup DAG |
| ``export_deadline_minutes`` | ``60`` | the same for the variable and connection export DAG |
| ``backup_max_age_hours`` | ``26`` | Platform page (api-server): an older backup is red |
| ``maintenance_max_age_hours`` | ``26`` | Platform page: other DAGs without a success this long: amber |
| ``log_volume_warn_percent`` | ``85`` | Platform page: log volume use that turns log cleanup amber |
| ``log_volume_critical_percent`` | ``95`` | ... and red |
| ``metrics_token_conn_id`` | ``platform_kit_metrics`` | metrics endpoint: its bearer token's connection |
"""

from __future__ import annotations

from platform_kit import defaults
from platform_kit.exceptions import ConfigurationError

SECTION = "platform_kit"

#: Variable holding the default backup destination (``s3://bucket/prefix`` or ``gs://bucket/prefix``).
BACKUP_URL_VARIABLE = "platform_kit_backup_url"
#: Variable holding the default export destination.
EXPORT_URL_VARIABLE = "platform_kit_export_url"
#: Suffix of the Variable that confirms a maintenance DAG: its automatic runs may delete
#: (:mod:`platform_kit.confirmation`).
CONFIRMED_VARIABLE_SUFFIX = "_confirmed"
#: DAG tag that opts a DAG out of the alerting cluster policy; never a connection name.
ALERTS_OPT_OUT_TAG = "alerts:off"
#: What a deadline can count from, as settings and ``platform_kit.alerts.deadline(reference=...)`` name it.
DEADLINE_REFERENCES = ("queued", "logical_date")
#: Maintenance DAG id -> (the ``[platform_kit]`` option holding its deadline in minutes, the default).
MAINTENANCE_DEADLINE_OPTIONS = {
    "platform_kit_metadb_backup": ("backup_deadline_minutes", defaults.BACKUP_DEADLINE_MINUTES),
    "platform_kit_log_cleanup": ("log_cleanup_deadline_minutes", defaults.LOG_CLEANUP_DEADLINE_MINUTES),
    "platform_kit_metadb_cleanup": ("db_cleanup_deadline_minutes", defaults.DB_CLEANUP_DEADLINE_MINUTES),
    "platform_kit_export": ("export_deadline_minutes", defaults.EXPORT_DEADLINE_MINUTES),
}


def confirmation_variable(dag_id: str) -> str:
    """The Variable that confirms ``dag_id``, e.g. ``platform_kit_log_cleanup_confirmed``."""
    return f"{dag_id}{CONFIRMED_VARIABLE_SUFFIX}"


def _conf():
    from platform_kit.version_compat import airflow_conf

    return airflow_conf()


def get_str(option: str, fallback: str = "") -> str:
    """``[platform_kit] <option>`` as a stripped string."""
    return (_conf().get(SECTION, option, fallback=fallback) or "").strip()


def get_bool(option: str, fallback: bool = False) -> bool:
    """``[platform_kit] <option>`` as a boolean (``True``/``true``/``1``)."""
    return _conf().getboolean(SECTION, option, fallback=fallback)


def get_int(option: str, fallback: int = 0) -> int:
    """``[platform_kit] <option>`` as an integer."""
    return _conf().getint(SECTION, option, fallback=fallback)


def get_number(option: str, fallback: float) -> float:
    """``[platform_kit] <option>`` as a number >= 0 (fractions allowed: ``0.5`` minutes = 30 s).

    :raises ConfigurationError: not a number, or negative.
    """
    raw = get_str(option, str(fallback))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also rejects nan
        raise ConfigurationError(f"[{SECTION}] {option} must be a number >= 0, got {raw!r}")
    return value


def get_list(option: str) -> list[str]:
    """``[platform_kit] <option>`` as a comma-separated list, blanks dropped."""
    return [item.strip() for item in get_str(option).split(",") if item.strip()]


def log_cleanup_queues() -> list[str]:
    """Celery queues whose workers have their own log disks (``log_cleanup_queues``)."""
    return get_list("log_cleanup_queues")


def alerts_policy_enabled() -> bool:
    """Whether the alerting cluster policy is on (``alerts_policy``)."""
    return get_bool("alerts_policy", False)


def alerts_policy_retries() -> int:
    """Retries the alerting policy gives tasks that set none (``alerts_policy_retries``, >= 0)."""
    return max(get_int("alerts_policy_retries", 1), 0)


def maintenance_deadline_minutes(dag_id: str) -> float:
    """The deadline of maintenance DAG ``dag_id`` in minutes after a run is queued (0 = none)."""
    option, default = MAINTENANCE_DEADLINE_OPTIONS.get(dag_id, ("", 0))
    return get_number(option, default) if option else 0.0


def deadline_policy_tag() -> str:
    """The tag that gives a DAG the policy's default deadline (``deadline_policy_tag``; empty = off)."""
    return get_str("deadline_policy_tag")


def deadline_policy_minutes() -> float:
    """The policy's default deadline in minutes after its reference (``deadline_policy_minutes``)."""
    return get_number("deadline_policy_minutes", defaults.DEADLINE_POLICY_MINUTES)


def deadline_policy_reference() -> str:
    """What the policy's deadline counts from (``deadline_policy_reference``: queued or logical_date)."""
    reference = get_str("deadline_policy_reference", defaults.DEADLINE_REFERENCE).lower()
    if reference not in DEADLINE_REFERENCES:
        raise ConfigurationError(
            f"[{SECTION}] deadline_policy_reference must be one of {', '.join(DEADLINE_REFERENCES)}, "
            f"got {reference!r}"
        )
    return reference


def deadline_followup_poll_seconds() -> float:
    """How often a late run's state is asked (``deadline_followup_poll_seconds``, at least 1)."""
    return max(get_number("deadline_followup_poll_seconds", defaults.DEADLINE_FOLLOWUP_POLL_SECONDS), 1.0)


def deadline_followup_max_hours() -> float:
    """How long a late run is watched for the follow-up (``deadline_followup_max_hours``; 0 = none)."""
    return get_number("deadline_followup_max_hours", defaults.DEADLINE_FOLLOWUP_MAX_HOURS)


def backup_max_age_hours() -> float:
    """Hours after which the newest verified backup is stale (``backup_max_age_hours``)."""
    return get_number("backup_max_age_hours", defaults.BACKUP_MAX_AGE_HOURS)


def maintenance_max_age_hours() -> float:
    """Hours without a success before another maintenance DAG is amber (``maintenance_max_age_hours``)."""
    return get_number("maintenance_max_age_hours", defaults.MAINTENANCE_MAX_AGE_HOURS)


def log_volume_thresholds() -> tuple[float, float]:
    """(amber, red) log volume use in percent (``log_volume_warn_percent``, ``..._critical_percent``)."""
    return (
        get_number("log_volume_warn_percent", defaults.LOG_VOLUME_WARN_PERCENT),
        get_number("log_volume_critical_percent", defaults.LOG_VOLUME_CRITICAL_PERCENT),
    )


def metrics_token_conn_id() -> str:
    """Connection whose password is the metrics endpoint's bearer token (``metrics_token_conn_id``)."""
    return get_str("metrics_token_conn_id", defaults.METRICS_TOKEN_CONN_ID)

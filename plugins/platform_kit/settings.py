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
"""

from __future__ import annotations

SECTION = "platform_kit"

#: Variable holding the default backup destination (``s3://bucket/prefix`` or ``gs://bucket/prefix``).
BACKUP_URL_VARIABLE = "platform_kit_backup_url"
#: Variable holding the default export destination.
EXPORT_URL_VARIABLE = "platform_kit_export_url"
#: DAG tag that opts a DAG out of the alerting cluster policy; never a connection name.
ALERTS_OPT_OUT_TAG = "alerts:off"


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

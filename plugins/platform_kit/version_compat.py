"""Everything that differs between Airflow versions, and every Airflow internal the kit touches.

Modelled on the providers' ``version_compat.py``: the rest of the kit imports Airflow's *public* API
(``airflow.sdk``, providers) directly, and reaches anything private or version-dependent only through
the functions below. Each accessor imports lazily (DAG files stay cheap), checks that what it returns
still has the shape the kit relies on, and otherwise raises :class:`AirflowCompatError` naming the
feature, the Airflow version and what to do, before the feature does anything.

``tests/unit/test_version_compat.py`` calls every accessor on each supported Airflow version.
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version
from types import SimpleNamespace
from typing import Any

from platform_kit.exceptions import AirflowCompatError


def _base_version(text: str) -> tuple[int, int, int]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


@functools.cache
def airflow_version_text() -> str:
    """The installed Airflow version (``apache-airflow-core``, which every Airflow 3 has)."""
    for dist in ("apache-airflow-core", "apache-airflow"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "0"


AIRFLOW_VERSION = _base_version(airflow_version_text())
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION >= (3, 3, 0)


def moved(feature: str, what: str, fix: str = "") -> AirflowCompatError:
    """The one-line error for an internal that is missing or changed in this Airflow version."""
    return AirflowCompatError(
        f"{feature} is not supported on Airflow {airflow_version_text()}: {what}; "
        + (fix or "use an Airflow version the kit supports (see the README's compatibility table)")
    )


def require_airflow(minimum: tuple[int, int, int], feature: str) -> None:
    """Raise :class:`AirflowCompatError` when ``feature`` needs a newer Airflow than this one."""
    if minimum > AIRFLOW_VERSION:
        wanted = ".".join(map(str, minimum))
        raise moved(feature, f"it needs Airflow {wanted} or newer", f"upgrade Airflow to {wanted}+")


# --- Configuration -----------------------------------------------------------------------------------------


def airflow_conf() -> Any:
    """Airflow's configuration parser, as the running process sees it (public on every version)."""
    from airflow.configuration import conf

    return conf


# --- Processes and the metadata DB -------------------------------------------------------------------------


def in_task_process() -> bool:
    """True inside a task (or any process Airflow runs through its supervisor comms)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def metastore_connection(conn_id: str) -> Any | None:
    """Connection ``conn_id`` read from the metadata DB itself, or ``None`` when it is not there.

    Only for processes that hold a real DB URL (an operator's shell on an Airflow host); a task must go
    through the Task SDK. Errors reaching the DB propagate to the caller.
    """
    try:
        from airflow.secrets.metastore import MetastoreBackend
    except ImportError as exc:
        raise moved(
            "connection lookup in the metadata DB", f"cannot import MetastoreBackend ({exc})"
        ) from None
    return MetastoreBackend().get_connection(conn_id)


def not_found_errors() -> tuple[type[BaseException], ...]:
    """The exception classes Airflow raises for a connection or variable that does not exist."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    classes: list[type[BaseException]] = [AirflowNotFoundException]
    try:
        from airflow.exceptions import AirflowNotFoundException as CoreNotFound

        if CoreNotFound is not AirflowNotFoundException:
            classes.append(CoreNotFound)
    except ImportError:
        pass
    return tuple(classes)


def fail_exception() -> type[BaseException]:
    """The exception that fails a task at once, without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException


def skip_exception() -> type[BaseException]:
    """The exception that ends a task as skipped (the Task SDK's, or core's where the SDK lacks it)."""
    try:
        from airflow.sdk.exceptions import AirflowSkipException
    except ImportError:
        from airflow.exceptions import AirflowSkipException
    return AirflowSkipException


# --- Secrets masking ---------------------------------------------------------------------------------------


def redact(text: str) -> str:
    """``text`` with every secret Airflow's masker knows replaced (best effort: unchanged on failure)."""
    try:
        from airflow.sdk._shared.secrets_masker import redact as masker_redact
    except ImportError:
        return text
    try:
        return str(masker_redact(text))
    except Exception:  # the masker is best effort; never lose an alert over it
        return text


def mask_secret(value: Any) -> None:
    """Register ``value`` with Airflow's masker so it never appears in task or component logs."""
    from airflow.sdk.log import mask_secret as sdk_mask_secret

    sdk_mask_secret(value)


# --- Task runtime (alerts) ---------------------------------------------------------------------------------


def runtime_task_instance() -> Any:
    """The Task SDK's ``RuntimeTaskInstance`` class (its ``get_task_states`` asks the Execution API)."""
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    except ImportError as exc:
        raise moved(
            "recovery and run-state lookups in alerts", f"RuntimeTaskInstance moved ({exc})"
        ) from None
    if not hasattr(RuntimeTaskInstance, "get_task_states"):
        raise moved("recovery and run-state lookups in alerts", "RuntimeTaskInstance.get_task_states is gone")
    return RuntimeTaskInstance


def explicit_operator_kwargs(task: Any) -> dict[str, Any] | None:
    """The keyword arguments a task was created with (``None`` when this Airflow does not keep them).

    The alerting policy uses it to tell ``retries`` set explicitly (even to 0) from the default.
    """
    return getattr(task, "_BaseOperator__init_kwargs", None)


# --- Deadline Alerts (3.1+) --------------------------------------------------------------------------------


def deadline_api() -> Any:
    """``DeadlineAlert``, ``DeadlineReference`` and ``AsyncCallback`` as a namespace.

    They are exported from ``airflow.sdk`` from Airflow 3.2; on 3.1 they live in
    ``airflow.sdk.definitions.deadline`` (where 3.1 also keeps ``AsyncCallback``).
    """
    from types import SimpleNamespace

    try:
        if AIRFLOW_V_3_2_PLUS:
            from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference
        else:
            from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference
    except ImportError as exc:
        raise moved(
            "deadline alerts", f"DeadlineAlert is not importable ({exc})", "use Airflow 3.1+"
        ) from None
    for name in ("DAGRUN_QUEUED_AT", "DAGRUN_LOGICAL_DATE", "FIXED_DATETIME"):
        if not hasattr(DeadlineReference, name):
            raise moved("deadline alerts", f"DeadlineReference.{name} is gone")
    return SimpleNamespace(
        DeadlineAlert=DeadlineAlert, DeadlineReference=DeadlineReference, AsyncCallback=AsyncCallback
    )


async def aget_sdk_connection(conn_id: str) -> Any:
    """``Connection.get`` for code running on an event loop (the triggerer), without blocking it.

    From Airflow 3.3.2 ``Connection.async_get`` masks the connection's secrets asynchronously; before
    that it masks them with a synchronous call to the supervisor, which must not run on the event loop.
    There the synchronous lookup runs in a worker thread instead (asgiref's ``sync_to_async``, the way
    Airflow's own triggers call the Task SDK), where blocking on the supervisor is safe.

    :raises: Airflow's not-found exception (see :func:`not_found_errors`) when there is no such connection.
    """
    from airflow.sdk import Connection

    if hasattr(Connection, "aextra_dejson"):
        return await Connection.async_get(conn_id)
    return await to_thread_with_sdk(Connection.get, conn_id)


async def aconnection_extra(conn: Any) -> dict[str, Any]:
    """A connection's ``extra_dejson`` on an event loop (its secrets are masked, see above)."""
    if hasattr(conn, "aextra_dejson"):
        return await conn.aextra_dejson()
    return await to_thread_with_sdk(lambda: conn.extra_dejson)


async def adagrun_state(dag_id: str, run_id: str) -> str:
    """A DAG run's state asked through the Execution API, from the triggerer or a task."""
    runtime = runtime_task_instance()
    if not hasattr(runtime, "get_dagrun_state"):
        raise moved("run state in deadline alerts", "RuntimeTaskInstance.get_dagrun_state is gone")
    return str(await to_thread_with_sdk(runtime.get_dagrun_state, dag_id, run_id))


async def to_thread_with_sdk(func: Any, *args: Any) -> Any:
    """Run a synchronous function that may call the Task SDK (connections, Variables, masking) in a worker
    thread, off the event loop.

    asgiref's ``sync_to_async`` (not a bare thread) because on Airflow 3.1 the triggerer's supervisor
    channel answers a worker thread only when the thread knows the event loop it came from; not
    thread-sensitive, so one slow call never queues the others behind it.
    """
    from asgiref.sync import sync_to_async

    return await sync_to_async(func, thread_sensitive=False)(*args)


# --- Export ------------------------------------------------------------------------------------------------


def orm_models() -> tuple[Any, Any]:
    """Core's ``Variable`` and ``Connection`` models, for ``export import --via cli`` (a process holding a
    real DB URL, never a task). ``Variable.set`` must take a session so the import is one transaction."""
    import inspect

    try:
        from airflow.models.connection import Connection
        from airflow.models.variable import Variable
    except ImportError as exc:
        raise moved("export import --via cli", f"the ORM models moved ({exc})", "use --via rest") from None
    if "session" not in inspect.signature(Variable.set).parameters:
        raise moved("export import --via cli", "Variable.set takes no session", "use --via rest")
    return Variable, Connection


def execution_api_secrets_backend() -> Any:
    """The Task SDK's metadata-DB secrets backend, as a worker reaches it (export ``sdk`` mode)."""
    try:
        from airflow.sdk.execution_time.secrets.execution_api import ExecutionAPISecretsBackend
    except ImportError as exc:
        raise moved(
            "export in sdk mode", f"ExecutionAPISecretsBackend moved ({exc})", "use mode=cli"
        ) from None
    return ExecutionAPISecretsBackend()


# --- Metadata DB cleanup (runs in a child process that holds a real DB URL) --------------------------------


def db_cleanup_module() -> Any:
    """``airflow.utils.db_cleanup``, checked for the private functions the cleanup driver wraps."""
    from airflow.utils import db_cleanup

    needed = (
        "run_cleanup",
        "export_archived_records",
        "drop_archived_tables",
        "config_dict",
        "_cleanup_table",
        "_check_for_rows",
        "_effective_table_names",
        "_get_archived_table_names",
    )
    missing = [name for name in needed if not hasattr(db_cleanup, name)]
    if missing:
        raise moved(
            "metadata DB cleanup",
            f"airflow.utils.db_cleanup lacks {', '.join(missing)}",
            "run `airflow db clean` by hand until the kit supports this version",
        )
    return db_cleanup


def alembic_revisions() -> set[str]:
    """Every alembic revision of this Airflow's metadata-DB migrations (a DB at any other revision was
    migrated by an Airflow this one does not know)."""
    try:
        from airflow.utils.db import _get_script_object
    except ImportError as exc:
        raise moved("recognising an Airflow metadata DB", f"_get_script_object moved ({exc})") from None
    return {script.revision for script in _get_script_object().walk_revisions()}


def create_session() -> Any:
    """Airflow's own session factory (the cleanup driver's child process, which holds a real DB URL)."""
    from airflow.utils.session import create_session as airflow_create_session

    return airflow_create_session()


def settings_engine() -> Any:
    """Airflow's SQLAlchemy engine in a process configured with a real DB URL."""
    from airflow import settings

    return settings.engine


# --- The sandbox twin (scripts/twin, development tooling) --------------------------------------------------


def task_log_server_app() -> Any:
    """The ASGI app Airflow's worker and triggerer log servers serve (the twin serves it on loopback)."""
    try:
        from airflow.utils.serve_logs import create_app
    except ImportError as exc:
        raise moved("the twin's loopback log server", f"cannot import create_app ({exc})") from None
    return create_app()


# --- The api-server side: the Platform page and the metrics endpoint (never imported by tasks) -------------

#: What the Platform page reads from each model; a rename fails the feature in one line, up front.
_STATUS_COLUMNS = {
    "DagModel": ("dag_id", "is_paused", "is_stale"),
    "DagRun": ("id", "dag_id", "run_id", "state", "run_after", "start_date", "end_date"),
    "TaskInstance": ("dag_id", "run_id", "task_id", "map_index", "try_number", "state", "end_date"),
    "XComModel": ("dag_run_id", "task_id", "map_index", "key", "value"),
}


def api_security() -> Any:
    """``airflow.api_fastapi.core_api.security``: the dependencies the core REST API authorizes with.

    A plugin's FastAPI app is mounted without any authentication; the Platform page and the metrics
    endpoint use ``get_user`` (JWT from the Bearer header or the UI's cookie) and ``requires_access_dag``
    exactly as the core API does.
    """
    feature = "the Platform page"
    try:
        from airflow.api_fastapi.core_api import security
    except ImportError as exc:
        raise moved(feature, f"cannot import the API's security module ({exc})") from None
    missing = [
        name for name in ("get_user", "requires_access_dag") if not callable(getattr(security, name, None))
    ]
    if missing:
        raise moved(feature, f"airflow.api_fastapi.core_api.security lacks {', '.join(missing)}")
    return security


def status_models() -> SimpleNamespace:
    """The ORM models the Platform page reads: ``dag``, ``dag_run``, ``task_instance`` and ``xcom``."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel

    models = {"DagModel": DagModel, "DagRun": DagRun, "TaskInstance": TaskInstance, "XComModel": XComModel}
    for name, columns in _STATUS_COLUMNS.items():
        missing = [column for column in columns if not hasattr(models[name], column)]
        if missing:
            raise moved("the Platform page", f"{name} lacks {', '.join(missing)}")
    return SimpleNamespace(dag=DagModel, dag_run=DagRun, task_instance=TaskInstance, xcom=XComModel)


def airflow_health() -> dict[str, Any]:
    """The body of ``/api/v2/monitor/health``, computed in this process (the api-server) from the DB."""
    try:
        from airflow.api.common.airflow_health import get_airflow_health
    except ImportError as exc:
        raise moved("component health on the Platform page", f"get_airflow_health moved ({exc})") from None
    return get_airflow_health()

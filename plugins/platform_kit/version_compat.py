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


def require_airflow(minimum: tuple[int, int, int], feature: str, fix: str = "") -> None:
    """Raise :class:`AirflowCompatError` when ``feature`` needs a newer Airflow than this one.

    :param minimum: the oldest Airflow version the feature works on.
    :param feature: what the user asked for, named first in the message.
    :param fix: what to do instead (default: upgrade Airflow).
    """
    if minimum > AIRFLOW_VERSION:
        wanted = ".".join(map(str, minimum))
        raise moved(feature, f"it needs Airflow {wanted} or newer", fix or f"upgrade Airflow to {wanted}+")


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


def _airflow_exception(name: str) -> list[type[BaseException]]:
    """Every class Airflow defines under ``name``: the Task SDK's (3.2+) and core's, without repeats.

    Airflow 3.1 defines the task-facing exceptions only in ``airflow.exceptions``; 3.2 moved them to
    ``airflow.sdk.exceptions`` and core re-exports them (with a deprecation warning on access).
    """
    import importlib
    import warnings

    classes: list[type[BaseException]] = []
    for module in ("airflow.sdk.exceptions", "airflow.exceptions"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DeprecatedImportWarning is a FutureWarning
            try:
                cls = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError):
                continue
        if cls not in classes:
            classes.append(cls)
    return classes


def not_found_errors() -> tuple[type[BaseException], ...]:
    """The exception classes Airflow raises for a connection or variable that does not exist."""
    classes = _airflow_exception("AirflowNotFoundException")
    if not classes:
        raise moved("connection lookup", "AirflowNotFoundException is gone from airflow.sdk and airflow")
    return tuple(classes)


def fail_exception() -> type[BaseException]:
    """The exception that fails a task at once, without retries (the one this task runner catches)."""
    classes = _airflow_exception("AirflowFailException")
    if not classes:
        raise moved("failing a task cleanly", "AirflowFailException is gone from airflow.sdk and airflow")
    return classes[0]


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


# --- Providers ----------------------------------------------------------------------------------------------


def provider_version(distribution: str) -> tuple[int, int, int] | None:
    """The installed version of a provider distribution, e.g. ``apache-airflow-providers-standard``."""
    try:
        return _base_version(version(distribution))
    except PackageNotFoundError:
        return None


def trigger_fails_on_paused_target() -> bool:
    """Whether ``TriggerDagRunOperator(fail_when_dag_is_paused=True)`` works here.

    On Airflow 3 the operator asks the execution API for the target's state, an endpoint added in 3.2;
    the standard provider raises ``NotImplementedError`` at parse time before 3.2, and before 1.14.0 on
    any Airflow 3.
    """
    standard = provider_version("apache-airflow-providers-standard")
    return AIRFLOW_V_3_2_PLUS and standard is not None and standard >= (1, 14, 0)


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


SDK_EXPORT = "export in sdk mode"
DB_EXPORT = "export in db mode"


def execution_api_secrets_backend() -> Any:
    """The Task SDK's metadata-DB secrets backend, as a worker reaches it (export ``sdk`` mode)."""
    try:
        from airflow.sdk.execution_time.secrets.execution_api import ExecutionAPISecretsBackend
    except ImportError as exc:
        raise moved(SDK_EXPORT, f"ExecutionAPISecretsBackend moved ({exc})", "use mode=db") from None
    return ExecutionAPISecretsBackend()


def airflow_fernet() -> Any:
    """Airflow's own Fernet helper for ``[core] fernet_key`` (``airflow.models.crypto.get_fernet``).

    A MultiFernet over every comma-separated key (``is_encrypted`` true), or Airflow's null Fernet when the
    key is empty (``is_encrypted`` false: Airflow then stores values unencrypted). A malformed key raises
    Airflow's own error, whose message never contains the key. Only the export's ``db``-mode child calls it.
    """
    try:
        from airflow.models.crypto import get_fernet
    except ImportError as exc:
        raise moved(
            DB_EXPORT, f"cannot import airflow.models.crypto.get_fernet ({exc})", "use mode=sdk"
        ) from None
    fernet = get_fernet()
    if not (callable(getattr(fernet, "decrypt", None)) and hasattr(fernet, "is_encrypted")):
        raise moved(
            DB_EXPORT, "get_fernet() no longer returns an object with decrypt/is_encrypted", "use mode=sdk"
        )
    return fernet


#: Columns the export reads, per table, under the names Airflow's models give them.
VARIABLE_COLUMNS = ("id", "key", "val", "description", "is_encrypted")
CONNECTION_COLUMNS = (
    "id",
    "conn_id",
    "conn_type",
    "description",
    "host",
    "schema",
    "login",
    "password",
    "port",
    "extra",
    "is_encrypted",
    "is_extra_encrypted",
)


def variable_and_connection_tables() -> tuple[Any, Any]:
    """The SQLAlchemy ``Table`` objects of ``variable`` and ``connection`` as this Airflow defines them.

    Selecting from the tables builds no model objects: loading a ``Variable``/``Connection`` model
    registers its value with the secrets masker, one regex recompile per secret (quadratic). Checked for
    the columns the export reads.
    """
    from airflow.models.connection import Connection
    from airflow.models.variable import Variable

    tables = (Variable.__table__, Connection.__table__)
    for table, columns in zip(tables, (VARIABLE_COLUMNS, CONNECTION_COLUMNS), strict=True):
        missing = [name for name in columns if name not in table.c]
        if missing:
            raise moved(DB_EXPORT, f"table {table.name!r} lacks {', '.join(missing)}", "use mode=sdk")
    return tables


def variable_keys() -> list[str] | None:
    """Every variable key in the metadata DB through the Task SDK, or ``None`` before Airflow 3.3.

    ``Variable.keys()`` is new in 3.3; on older versions the export takes the keys from the REST API's
    variable list, which it reads anyway for the descriptions (same rows: metadata-DB variables only).
    """
    from airflow.sdk import Variable

    keys = getattr(Variable, "keys", None)
    return None if keys is None else list(keys())


# --- Metadata DB cleanup (runs in a child process that holds a real DB URL) --------------------------------


#: The tables core's cleanup offers (``airflow.utils.db_cleanup.config_list``) on each minor: table -> the
#: column compared with the cutoff. Spelled out so DAG files can build their Params without importing
#: core's cleanup module; ``tests/unit/test_dbclean_engine.py`` compares it with core on every minor of
#: the version matrix. ``session`` exists only with FAB's database session backend.
_DB_CLEANUP_TABLES_3_1: dict[str, str] = {
    "_xcom_archive": "timestamp",
    "asset_event": "timestamp",
    "callback_request": "created_at",
    "celery_taskmeta": "date_done",
    "celery_tasksetmeta": "date_done",
    "dag": "last_parsed_time",
    "dag_run": "start_date",
    "dag_version": "created_at",
    "deadline": "deadline_time",
    "import_error": "timestamp",
    "job": "latest_heartbeat",
    "log": "dttm",
    "session": "expiry",
    "sla_miss": "timestamp",
    "task_instance": "start_date",
    "task_instance_history": "start_date",
    "task_reschedule": "start_date",
    "trigger": "created_date",
    "xcom": "timestamp",
}
_DB_CLEANUP_TABLES_3_2 = {**_DB_CLEANUP_TABLES_3_1, "revoked_token": "exp"}
_DB_CLEANUP_TABLES_3_3 = {
    **{k: v for k, v in _DB_CLEANUP_TABLES_3_2.items() if k not in ("callback_request", "sla_miss")},
    "callback": "created_at",
    "connection_test_request": "updated_at",
    "partitioned_asset_key_log": "created_at",
    "task_state_store": "expires_at",
}
_DB_CLEANUP_TABLES = {
    (3, 1): _DB_CLEANUP_TABLES_3_1,
    (3, 2): _DB_CLEANUP_TABLES_3_2,
    (3, 3): _DB_CLEANUP_TABLES_3_3,
}


def db_cleanup_tables() -> dict[str, str]:
    """The tables core's cleanup offers on this Airflow (table -> cutoff column), sorted by name.

    A minor newer than the kit knows gets the newest catalogue; the cleanup child then passes core only
    the tables core itself offers and reports the others as missing.
    """
    older_or_same = [minor for minor in _DB_CLEANUP_TABLES if minor <= AIRFLOW_VERSION[:2]]
    minor = max(older_or_same) if older_or_same else min(_DB_CLEANUP_TABLES)
    return dict(sorted(_DB_CLEANUP_TABLES[minor].items()))


#: What the cleanup driver relies on in ``airflow.utils.db_cleanup``: each private function it wraps or
#: calls, and the keyword arguments it passes or reads (all of them keyword-only in core).
_DB_CLEANUP_SHAPE: dict[str, tuple[str, ...]] = {
    "run_cleanup": (
        "clean_before_timestamp",
        "table_names",
        "dry_run",
        "confirm",
        "skip_archive",
        "batch_size",
    ),
    "_cleanup_table": ("orm_model",),
    "_check_for_rows": ("query",),
    "_effective_table_names": ("table_names",),
    "_get_archived_table_names": ("table_names", "session"),
    "export_archived_records": (
        "export_format",
        "output_path",
        "table_names",
        "drop_archives",
        "needs_confirm",
    ),
    "drop_archived_tables": ("table_names", "needs_confirm"),
}

DB_CLEANUP = "metadata DB cleanup"
DB_CLEANUP_DAG_FILTER = "the DB cleanup's DAG filter (dag_ids / exclude_dag_ids)"
DB_CLEANUP_DAG_FILTER_SINCE = (3, 2, 0)


def db_cleanup_module() -> Any:
    """``airflow.utils.db_cleanup``, checked for the shape of every private function the driver wraps.

    The driver counts rows by wrapping ``_cleanup_table`` and ``_check_for_rows``; if either is gone,
    renamed or takes other arguments, it refuses to run rather than report counts it did not see.
    """
    import inspect

    from airflow.utils import db_cleanup

    fix = "run `airflow db clean` by hand until the kit supports this version"
    if not hasattr(db_cleanup, "config_dict"):
        raise moved(DB_CLEANUP, "airflow.utils.db_cleanup lacks config_dict", fix)
    for name, arguments in _DB_CLEANUP_SHAPE.items():
        function = getattr(db_cleanup, name, None)
        if not callable(function):
            raise moved(DB_CLEANUP, f"airflow.utils.db_cleanup lacks {name}", fix)
        accepted = inspect.signature(function).parameters
        lacking = [argument for argument in arguments if argument not in accepted]
        if lacking:
            raise moved(
                DB_CLEANUP, f"airflow.utils.db_cleanup.{name} no longer takes {', '.join(lacking)}", fix
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


def db_cleanup_has_dag_filter(core: Any) -> bool:
    """Whether core's ``run_cleanup`` can restrict a cleanup to some DAGs (Airflow 3.2+)."""
    import inspect

    accepted = inspect.signature(core.run_cleanup).parameters
    return "dag_ids" in accepted and "exclude_dag_ids" in accepted


def run_db_cleanup(
    core: Any, *, dag_ids: list[str] | None = None, exclude_dag_ids: list[str] | None = None, **kwargs: Any
) -> None:
    """Call core's ``run_cleanup`` with what this Airflow accepts.

    :param core: :func:`db_cleanup_module`.
    :param dag_ids: only rows of these DAGs; needs Airflow 3.2+ (refused in one line before).
    :param exclude_dag_ids: never rows of these DAGs; needs Airflow 3.2+.
    :param kwargs: the other ``run_cleanup`` arguments (see ``_DB_CLEANUP_SHAPE``). Failing tables are
        asked to raise at the end where core can (3.2+); on 3.1 core only logs them, and the driver's
        per-table observation reports them instead.
    """
    import inspect

    accepted = inspect.signature(core.run_cleanup).parameters
    if dag_ids or exclude_dag_ids:
        if not db_cleanup_has_dag_filter(core):
            raise moved(
                DB_CLEANUP_DAG_FILTER,
                "core's cleanup cannot filter by DAG before Airflow 3.2",
                "upgrade Airflow to 3.2+ or clean without dag_ids / exclude_dag_ids",
            )
        kwargs.update(dag_ids=dag_ids or None, exclude_dag_ids=exclude_dag_ids or None)
    if "error_on_cleanup_failure" in accepted:
        kwargs["error_on_cleanup_failure"] = True
    core.run_cleanup(**kwargs)


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


# --- Used by the test suite (parsing DAG files, filling a metadata DB) ---------------------------------


def dag_bag_class() -> Any:
    """Core's ``DagBag`` (``airflow.dag_processing.dagbag`` since 3.2, ``airflow.models.dagbag`` on 3.1)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    return DagBag


def bundle_dag_bag(folder: Any, bundle_name: str, **kwargs: Any) -> Any:
    """A ``DagBag`` of ``folder`` parsed as the DAG bundle ``bundle_name`` (what the dag-processor does
    before :func:`sync_bag_to_db`); 3.1's ``DagBag`` takes only the bundle's path, not its name.

    :param kwargs: other ``DagBag`` arguments, e.g. ``safe_mode=False``.
    """
    import inspect

    bag_class = dag_bag_class()
    if "bundle_name" in inspect.signature(bag_class).parameters:
        kwargs["bundle_name"] = bundle_name
    return bag_class(dag_folder=folder, bundle_path=folder, **kwargs)


def serialized_dag_class() -> Any:
    """Core's DAG serializer, whose ``to_dict`` is what lands in ``serialized_dag`` (``DagSerialization``
    from 3.2, ``SerializedDAG`` on 3.1)."""
    from airflow.serialization import serialized_objects

    serializer = getattr(serialized_objects, "DagSerialization", None)
    return serializer or serialized_objects.SerializedDAG


def param_validation_errors() -> tuple[type[BaseException], ...]:
    """What ``Param.resolve`` raises for a value its schema refuses (the Task SDK's from 3.2, core's on
    3.1)."""
    classes = _airflow_exception("ParamValidationError")
    if not classes:
        raise moved("Param validation", "ParamValidationError is gone from airflow.sdk and airflow")
    return tuple(classes)


def sync_bag_to_db() -> Any:
    """Core's ``sync_bag_to_db(bag, bundle_name, bundle_version, session=...)`` (moved with ``DagBag``)."""
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db as sync
    except ImportError:
        from airflow.models.dagbag import sync_bag_to_db as sync
    return sync


def policy_plugins() -> list[Any]:
    """The cluster-policy plugins Airflow registered (from entry points and ``airflow_local_settings``)."""
    from airflow import settings

    if hasattr(settings, "get_policy_plugin_manager"):
        manager = settings.get_policy_plugin_manager()
    else:  # 3.1: a module global that settings.initialize() (run by `import airflow`) fills
        manager = settings.POLICY_PLUGIN_MANAGER
    return list(manager.get_plugins())


def manual_only_timetables() -> Any:
    """The timetables of the twin's e2e policy (only triggered, asset-driven and chosen cron runs happen).

    Returns a namespace: ``null`` (``NullTimetable``), ``cron`` (``CronTriggerTimetable``) and ``kept`` (the
    "no schedule" and asset-triggered classes the policy leaves alone). The Task SDK has its own timetable
    classes from 3.2; 3.1's DAGs carry core's (``airflow.timetables``), so ``kept`` holds both where both
    exist, and ``null``/``cron`` are the ones a DAG of this minor is built with.
    """
    import importlib
    from types import SimpleNamespace

    places = (
        (
            "airflow.sdk.definitions.timetables.simple",
            "airflow.sdk.definitions.timetables.assets",
            "airflow.sdk.definitions.timetables.trigger",
        ),
        ("airflow.timetables.simple", "airflow.timetables.simple", "airflow.timetables.trigger"),
    )
    found: list[tuple[type, type, type]] = []
    for null_module, asset_module, trigger_module in places:
        try:
            null = importlib.import_module(null_module).NullTimetable
            asset = importlib.import_module(asset_module).AssetTriggeredTimetable
            cron = importlib.import_module(trigger_module).CronTriggerTimetable
        except (ImportError, AttributeError):
            continue
        found.append((null, asset, cron))
    if not found:
        raise moved(
            "the twin's manual-only schedule policy",
            "NullTimetable/AssetTriggeredTimetable/CronTriggerTimetable moved",
        )
    null, _, cron = found[0]
    return SimpleNamespace(null=null, cron=cron, kept=tuple(cls for trio in found for cls in trio[:2]))

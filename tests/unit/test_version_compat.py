"""Every Airflow internal the kit touches, reached through ``version_compat`` on the installed Airflow.

The version matrix runs this module on each supported minor: a name that moved fails here, not as a
wrong result in production.
"""

from __future__ import annotations

import inspect

import pytest

from platform_kit import version_compat
from platform_kit.exceptions import AirflowCompatError

pytestmark = pytest.mark.unit


def test_the_installed_airflow_is_a_supported_minor():
    assert version_compat.AIRFLOW_VERSION[:2] in {(3, 1), (3, 2), (3, 3)}, (
        version_compat.airflow_version_text()
    )


def test_configuration_and_process_helpers_work():
    conf = version_compat.airflow_conf()
    assert conf.get("core", "dags_folder")
    assert version_compat.in_task_process() is False
    assert issubclass(version_compat.fail_exception(), BaseException)
    assert issubclass(version_compat.skip_exception(), BaseException)
    not_found = version_compat.not_found_errors()
    assert not_found and all(issubclass(cls, BaseException) for cls in not_found)


def test_secrets_masker_redacts_a_registered_secret():
    version_compat.mask_secret("s3cr3t-value-for-the-test")
    assert "s3cr3t-value-for-the-test" not in version_compat.redact("token s3cr3t-value-for-the-test here")


def test_task_runtime_and_export_internals_import():
    runtime = version_compat.runtime_task_instance()
    assert callable(runtime.get_task_states)
    backend = version_compat.execution_api_secrets_backend()
    assert callable(backend.get_connection) and callable(backend.get_variable)


def test_deadline_alert_classes_and_the_event_loop_helpers_work(monkeypatch):
    import asyncio
    import json

    api = version_compat.deadline_api()
    for name in ("DAGRUN_QUEUED_AT", "DAGRUN_LOGICAL_DATE", "FIXED_DATETIME"):
        assert hasattr(api.DeadlineReference, name)
    assert api.AsyncCallback.__name__ == "AsyncCallback" and callable(api.DeadlineAlert)
    monkeypatch.setenv("AIRFLOW_CONN_COMPAT_ASYNC", json.dumps({"conn_type": "http", "extra": {"a": 1}}))

    async def lookups():
        conn = await version_compat.aget_sdk_connection("compat_async")
        return conn.conn_type, await version_compat.aconnection_extra(conn)

    assert asyncio.run(lookups()) == ("http", {"a": 1})
    assert asyncio.run(version_compat.to_thread_with_sdk(lambda x: x * 2, 21)) == 42
    assert callable(version_compat.runtime_task_instance().get_dagrun_state)


def test_db_cleanup_internals_have_the_shape_the_driver_wraps():
    core = version_compat.db_cleanup_module()
    for name in ("_cleanup_table", "_check_for_rows", "_effective_table_names", "_get_archived_table_names"):
        assert callable(getattr(core, name)), name
    assert "orm_model" in inspect.signature(core._cleanup_table).parameters
    assert "query" in inspect.signature(core._check_for_rows).parameters
    # The DAG filter exists from 3.2 on, and the kit says so the same way everywhere.
    assert version_compat.db_cleanup_has_dag_filter(core) is version_compat.AIRFLOW_V_3_2_PLUS


def test_db_cleanup_refuses_when_a_wrapped_internal_changed_shape(monkeypatch):
    from airflow.utils import db_cleanup

    def _check_for_rows(*, session, statement, print_rows=False):  # "query" renamed
        return 0

    monkeypatch.setattr(db_cleanup, "_check_for_rows", _check_for_rows)
    with pytest.raises(AirflowCompatError) as excinfo:
        version_compat.db_cleanup_module()
    message = str(excinfo.value)
    assert message.startswith(
        f"metadata DB cleanup is not supported on Airflow {version_compat.airflow_version_text()}"
    )
    assert "_check_for_rows no longer takes query" in message and "airflow db clean" in message
    assert "\n" not in message


def test_a_dag_filter_is_refused_where_core_cannot_filter():
    calls = []

    class CoreWithoutFilter:  # 3.1's run_cleanup signature
        @staticmethod
        def run_cleanup(
            *,
            clean_before_timestamp,
            table_names=None,
            dry_run=False,
            verbose=False,
            confirm=True,
            skip_archive=False,
            session=None,
            batch_size=None,
        ):
            calls.append(table_names)

    version_compat.run_db_cleanup(CoreWithoutFilter, table_names=["log"], clean_before_timestamp=None)
    assert calls == [["log"]]  # no dag_ids and no error_on_cleanup_failure passed to 3.1's core
    with pytest.raises(AirflowCompatError, match=r"DAG filter .* 3\.2"):
        version_compat.run_db_cleanup(CoreWithoutFilter, dag_ids=["a"], clean_before_timestamp=None)
    assert calls == [["log"]]


def test_the_table_catalogue_is_the_installed_minors():
    tables = version_compat.db_cleanup_tables()
    assert ("callback" in tables) is version_compat.AIRFLOW_V_3_3_PLUS
    assert ("sla_miss" in tables) is not version_compat.AIRFLOW_V_3_3_PLUS
    assert ("revoked_token" in tables) is version_compat.AIRFLOW_V_3_2_PLUS
    assert {"log", "xcom", "dag_run", "task_instance", "session"} <= set(tables)


def test_export_variable_keys_and_the_trigger_paused_check_follow_the_minor():
    from airflow.sdk import Variable

    assert hasattr(Variable, "keys") is version_compat.AIRFLOW_V_3_3_PLUS
    standard = version_compat.provider_version("apache-airflow-providers-standard")
    assert standard is not None
    expected = version_compat.AIRFLOW_V_3_2_PLUS and standard >= (1, 14, 0)
    assert version_compat.trigger_fails_on_paused_target() is expected


def test_test_suite_accessors_find_dagbag_and_the_policy_plugins(tmp_path):
    bag_class = version_compat.dag_bag_class()
    assert bag_class.__name__ == "DagBag"
    (tmp_path / "one.py").write_text(
        "from airflow.sdk import DAG\nwith DAG('compat_one', schedule=None):\n    pass\n"
    )
    bag = version_compat.bundle_dag_bag(tmp_path, "compat-bundle", safe_mode=False)
    assert isinstance(bag, bag_class) and sorted(bag.dags) == ["compat_one"], bag.import_errors
    assert callable(version_compat.sync_bag_to_db())
    assert callable(version_compat.serialized_dag_class().to_dict)
    errors = version_compat.param_validation_errors()
    assert errors and all(cls.__name__ == "ParamValidationError" for cls in errors)
    names = {getattr(plugin, "__name__", "") for plugin in version_compat.policy_plugins()}
    assert "platform_kit.alerts.policy" in names


def test_the_twins_schedule_policy_replaces_a_cron_schedule_of_this_minor():
    from airflow.sdk import DAG

    timetables = version_compat.manual_only_timetables()
    daily = DAG("compat_daily", schedule="@daily")
    manual = DAG("compat_manual", schedule=None)
    assert not isinstance(daily.timetable, timetables.kept)  # a cron schedule is dropped ...
    assert isinstance(manual.timetable, timetables.kept)  # ... no schedule is kept
    assert isinstance(timetables.null(), type(manual.timetable))
    # The cron class is the one this minor builds a cron schedule with (the policy's yearly log cleanup).
    assert isinstance(daily.timetable, timetables.cron)
    yearly = timetables.cron("@yearly", timezone="UTC")
    expression = getattr(yearly, "expression", None) or getattr(yearly, "_expression", None)  # SDK / core
    assert expression in ("0 0 1 1 *", "@yearly")  # 3.2 keeps the alias, 3.1 and 3.3 expand it


def test_the_task_log_server_app_builds():
    app = version_compat.task_log_server_app()
    assert any(getattr(route, "path", "") == "/log" for route in app.routes)


def test_the_orm_models_and_migrations_the_cli_import_and_db_cleanup_use():
    variable, connection = version_compat.orm_models()
    assert "session" in inspect.signature(variable.set).parameters
    assert {"conn_id", "id", "host", "port", "extra"} <= set(connection.__table__.columns.keys())
    revisions = version_compat.alembic_revisions()
    assert len(revisions) > 50 and all(isinstance(r, str) and r for r in revisions)


def test_metastore_backend_is_importable():
    from airflow.secrets.metastore import MetastoreBackend

    assert callable(MetastoreBackend().get_connection)


def test_a_missing_internal_fails_in_one_line_naming_feature_version_and_fix():
    error = version_compat.moved("metadata DB cleanup", "airflow.utils.db_cleanup lacks _cleanup_table")
    message = str(error)
    assert isinstance(error, AirflowCompatError)
    assert "\n" not in message
    assert message.startswith("metadata DB cleanup is not supported on Airflow ")
    assert version_compat.airflow_version_text() in message
    assert "compatibility table" in message


def test_require_airflow_refuses_an_older_version():
    version_compat.require_airflow((3, 0, 0), "anything")
    with pytest.raises(AirflowCompatError, match=r"needs Airflow 99\.0\.0 or newer"):
        version_compat.require_airflow((99, 0, 0), "a future feature")


def test_api_server_internals_of_the_platform_page_have_the_shape_it_uses():
    security = version_compat.api_security()
    assert callable(security.get_user) and callable(security.requires_access_dag("GET", param_dag_id="x"))
    models = version_compat.status_models()
    assert {"dag", "dag_run", "task_instance", "xcom"} <= set(vars(models))
    health = version_compat.airflow_health()  # this test's metadata DB may be unusable: still a body
    assert {"metadatabase", "scheduler", "triggerer", "dag_processor"} <= set(health)


def test_export_db_mode_internals_have_the_shape_the_reader_uses():
    fernet = version_compat.airflow_fernet()
    assert isinstance(fernet.is_encrypted, bool) and callable(fernet.decrypt)
    variable, connection = version_compat.variable_and_connection_tables()
    assert (variable.name, connection.name) == ("variable", "connection")
    assert set(version_compat.VARIABLE_COLUMNS) <= set(variable.c.keys())
    assert set(version_compat.CONNECTION_COLUMNS) <= set(connection.c.keys())

"""The maintenance DAGs' trigger forms: valid with their defaults, optional fields really optional.

The UI's rules, from Airflow 3's trigger form (``airflow/ui``, ``FlexibleForm`` / ``isParamRequired``):
a field is *required* unless its schema type is a list that includes ``"null"``; a required field whose
value is ``null``, missing or ``""`` marks the form invalid and greys the Trigger button out; a text field
the user empties is sent as ``null``. The browser test (``tests/e2e/test_trigger_forms.py``) checks
the real form; these tests pin the same rules on every Param without a browser.
"""

from __future__ import annotations

import copy

import pytest

pytestmark = pytest.mark.unit

MAINTENANCE_DAGS = (
    "platform_kit_log_cleanup",
    "platform_kit_metadb_backup",
    "platform_kit_export",
    "platform_kit_metadb_cleanup",
)
#: The Params that mean "use the default" when left empty, per DAG (what the docs promise).
OPTIONAL_TEXT = {
    "platform_kit_log_cleanup": {"max_size", "slack_conn_id"},
    "platform_kit_metadb_backup": {"destination", "restore_test_conn_id", "slack_conn_id"},
    "platform_kit_export": {"destination", "slack_conn_id"},
    "platform_kit_metadb_cleanup": {"export_url", "slack_conn_id"},
}


def ui_requires(schema: dict) -> bool:
    """``isParamRequired`` of Airflow's UI."""
    kind = schema.get("type")
    return bool(kind) and not (isinstance(kind, list) and "null" in kind)


def params_of(dag) -> dict:
    """``{name: Param}`` (iterating a ParamsDict yields resolved values, not the Params)."""
    return {name: dag.params.get_param(name) for name in dag.params}


def check(param, value) -> None:
    """What the API does with a submitted value: validate it against the Param's schema."""
    copy.deepcopy(param).resolve(value=value)


def form_errors(dag) -> list[str]:
    """The fields the UI flags when the form opens with the DAG's defaults."""
    return [
        name
        for name, param in params_of(dag).items()
        if ui_requires(param.schema) and param.value in (None, "")
    ]


@pytest.mark.parametrize("dag_id", MAINTENANCE_DAGS)
def test_the_form_opens_valid_with_the_defaults_and_submits_them(dag_bag, dag_id):
    dag = dag_bag.dags[dag_id]
    assert form_errors(dag) == []
    for param in params_of(dag).values():
        check(param, param.value)  # the form posts every field, untouched


@pytest.mark.parametrize("dag_id", MAINTENANCE_DAGS)
def test_optional_text_params_are_nullable_and_a_blank_field_validates(dag_bag, dag_id):
    dag = dag_bag.dags[dag_id]
    params = params_of(dag)
    nullable_text = {name for name, param in params.items() if param.schema.get("type") == ["null", "string"]}
    assert nullable_text == OPTIONAL_TEXT[dag_id]
    for name in nullable_text:
        assert params[name].value is None, f"{dag_id}.{name}: an empty field must be the default"
        assert "empty" in params[name].description, f"{dag_id}.{name}: say what empty means"
        # The form sends an emptied text field as null, an API caller may send "".
        for blank in (None, ""):
            check(params[name], blank)


@pytest.mark.parametrize("dag_id", MAINTENANCE_DAGS)
def test_no_text_param_defaults_to_an_empty_string(dag_bag, dag_id):
    """A ``""`` default on a plain ``string`` field is what greyed the Trigger button out (issue 12)."""
    params = params_of(dag_bag.dags[dag_id])
    assert [n for n, p in params.items() if p.value == "" and ui_requires(p.schema)] == []


def test_a_required_field_left_empty_is_still_refused(dag_bag):
    from platform_kit.version_compat import param_validation_errors

    param = params_of(dag_bag.dags["platform_kit_metadb_backup"])["metadb_conn_id"]
    assert ui_requires(param.schema)
    for blank in (None, ""):
        with pytest.raises(param_validation_errors()):
            check(param, blank)


@pytest.mark.parametrize("value", [None, "", "   ", "\t"])
def test_optional_text_reads_null_empty_and_blank_as_not_set(value):
    from platform_kit.maintenance import optional_text

    assert optional_text({"x": value}, "x") is None
    assert optional_text({}, "x") is None
    assert optional_text({"x": " s3://b/p "}, "x") == "s3://b/p"


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_the_log_cleanup_treats_an_empty_size_cap_as_no_cap(blank):
    from platform_kit.logcleanup.tasks import policy_from_params

    params = {
        "retention_days": 30,
        "retention_hours": 0,
        "dag_retention": {},
        "dag_processor_retention_days": None,
        "max_size": blank,
        "size_floor_hours": 24,
        "min_age_minutes": 60,
    }
    assert policy_from_params(params).max_size is None
    assert policy_from_params({**params, "max_size": "10G"}).max_size.max_bytes == 10 * 1024**3

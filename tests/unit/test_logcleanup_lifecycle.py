"""``platform-kit logs lifecycle``: bucket rules for a log folder, planned offline, and their limits."""

from __future__ import annotations

import json

import pytest

from platform_kit.cli import main
from platform_kit.exceptions import PolicyError, UnsafeRootError
from platform_kit.logcleanup.lifecycle import plan_lifecycle

pytestmark = pytest.mark.unit


def test_s3_rules_expire_the_folder_abort_uploads_and_give_shorter_dags_their_own_rules():
    plan = plan_lifecycle(
        "s3://airflow-logs/prod/logs",
        30,
        dag_retention={"noisy": 3, "audit": 365, "same": 30, "half": 0.5},
        dag_processor_retention_days=7,
    )

    main_rule, *others = plan.rules
    assert main_rule == {
        "ID": "platform-kit-logs:prod/logs/",
        "Status": "Enabled",
        "Filter": {"Prefix": "prod/logs/"},
        "Expiration": {"Days": 30},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    assert {(r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in others} == {
        ("prod/logs/dag_id=half/", 1),
        ("prod/logs/executor_callbacks/half/", 1),
        ("prod/logs/dag_id=noisy/", 3),
        ("prod/logs/executor_callbacks/noisy/", 3),
        ("prod/logs/dag_processor/", 7),
    }
    assert len({r["ID"] for r in plan.rules}) == len(plan.rules)  # S3 wants unique IDs
    cannot = "\n".join(plan.cannot_express)
    assert "DAG audit: 365 days is longer than the folder's 30" in cannot
    assert "trigger logs" in cannot and "whatever its name" in cannot and "dry run" in cannot
    assert "same" not in cannot
    assert plan.notes == ["DAG half: 0.5 days rounded up to 1 (rules count whole days)"]


def test_gcs_rules_are_delete_actions_with_an_age_and_a_prefix():
    plan = plan_lifecycle("gs://airflow-logs/logs", 14, dag_retention='{"noisy": 2}')

    assert plan.rules == [
        {"action": {"type": "Delete"}, "condition": {"age": 14, "matchesPrefix": ["logs/"]}},
        {
            "action": {"type": "Delete"},
            "condition": {
                "age": 2,
                "matchesPrefix": ["logs/dag_id=noisy/", "logs/executor_callbacks/noisy/"],
            },
        },
    ]


def test_without_per_dag_retention_the_plan_still_says_what_a_rule_cannot_do():
    plan = plan_lifecycle("s3://airflow-logs/logs", 30)
    assert len(plan.rules) == 1
    assert any("per-DAG retention longer than 30 days" in line for line in plan.cannot_express)


@pytest.mark.parametrize(
    ("url", "days", "kwargs", "error", "message"),
    [
        ("s3://airflow-logs", 30, {}, UnsafeRootError, "refusing to clean the whole bucket"),
        ("s3://airflow-logs/logs", 0, {}, PolicyError, "whole number >= 1"),
        ("s3://airflow-logs/logs", 30, {"dag_retention": "{oops"}, PolicyError, "not valid JSON"),
    ],
)
def test_bad_input_is_one_line(url, days, kwargs, error, message):
    with pytest.raises(error, match=message):
        plan_lifecycle(url, days, **kwargs)


def test_a_bucket_root_rule_when_allowed():
    plan = plan_lifecycle("gs://airflow-logs", 30, allow_bucket_root=True)
    assert plan.rules == [{"action": {"type": "Delete"}, "condition": {"age": 30}}]


def test_the_command_prints_the_rule_without_touching_the_bucket(capsys, monkeypatch):
    # No connection and no network: printing the rule needs neither.
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    assert main(["logs", "lifecycle", "s3://airflow-logs/logs", "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Lifecycle rules for s3://airflow-logs/logs (not applied: run again with --apply")
    assert '"Days": 30' in out and "AbortIncompleteMultipartUpload" in out
    assert "What these rules cannot do that `platform-kit logs clean` does:" in out

    assert main(["logs", "lifecycle", "gs://airflow-logs/logs", "--days", "30", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["applied"] is False and printed["rules"][0]["condition"]["age"] == 30

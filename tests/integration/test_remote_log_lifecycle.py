"""``platform-kit logs lifecycle --apply`` on moto's S3 server and the GCS emulator: the bucket's other
rules stay, the kit's own rules for the folder are replaced, never duplicated."""

from __future__ import annotations

import json

import pytest
from plain_shell import one_error_line, plain_shell
from storage_conns import aws_conn_json, google_conn_json

from platform_kit.logcleanup.lifecycle import apply_lifecycle, plan_lifecycle
from platform_kit.storage import open_store

pytestmark = pytest.mark.integration

OTHER_S3_RULES = [
    {"ID": "tmp-expiry", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}},
    {
        "ID": "archive-to-glacier",
        "Status": "Enabled",
        "Filter": {"Prefix": "archive/"},
        "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
    },
    {
        "ID": "everything-after-a-year",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"Days": 365},
    },
]


@pytest.mark.matrix  # the amazon provider's S3 hook of this minor's floor
def test_s3_apply_keeps_other_rules_and_replaces_its_own(s3_bucket, moto_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_conn_json(moto_server.url))
    store, _ = open_store(f"s3://{s3_bucket}/logs")
    store.client.put_bucket_lifecycle_configuration(
        Bucket=s3_bucket, LifecycleConfiguration={"Rules": OTHER_S3_RULES}
    )

    first = apply_lifecycle(store, plan_lifecycle(f"s3://{s3_bucket}/logs", 30, dag_retention={"noisy": 3}))
    second = apply_lifecycle(store, plan_lifecycle(f"s3://{s3_bucket}/logs", 14))
    # Another folder's rules are not this folder's: they stay when the first folder's are replaced.
    apply_lifecycle(store, plan_lifecycle(f"s3://{s3_bucket}/logs-archive", 400))

    assert (first["kept_rules"], first["replaced_rules"]) == (3, 0)
    assert (second["kept_rules"], second["replaced_rules"]) == (3, 3)
    assert second["notes"] == [
        "rule everything-after-a-year also deletes objects in "
        f"s3://{s3_bucket}/logs/ (365 days): the shortest matching expiry wins"
    ]
    rules = {rule["ID"]: rule for rule in store.get_lifecycle()["Rules"]}
    assert set(rules) == {
        "tmp-expiry",
        "archive-to-glacier",
        "everything-after-a-year",
        "platform-kit-logs:logs/",
        "platform-kit-logs:logs-archive/",
    }
    assert rules["platform-kit-logs:logs/"]["Expiration"] == {"Days": 14}
    assert rules["platform-kit-logs:logs/"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rules["archive-to-glacier"]["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER"}]


def test_gcs_apply_keeps_other_rules_and_replaces_its_own(gcs_bucket, gcs_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", google_conn_json(gcs_server.url))
    store, _ = open_store(f"gs://{gcs_bucket}/logs")
    other = {"action": {"type": "SetStorageClass", "storageClass": "COLDLINE"}, "condition": {"age": 60}}
    noncurrent = {"action": {"type": "Delete"}, "condition": {"age": 7, "isLive": False}}
    store.put_lifecycle({"rule": [other, noncurrent]})

    apply_lifecycle(store, plan_lifecycle(f"gs://{gcs_bucket}/logs", 30, dag_retention={"noisy": 3}))
    result = apply_lifecycle(store, plan_lifecycle(f"gs://{gcs_bucket}/logs", 10))

    assert (result["kept_rules"], result["replaced_rules"]) == (2, 2)
    rules = store.get_lifecycle()["rule"]
    assert rules[:2] == [other, noncurrent]
    assert rules[2:] == [{"action": {"type": "Delete"}, "condition": {"age": 10, "matchesPrefix": ["logs/"]}}]


def test_the_command_applies_from_a_plain_shell(s3_bucket, moto_server, tmp_path, monkeypatch):
    shell = plain_shell(tmp_path)
    env = {"AIRFLOW_CONN_AWS_DEFAULT": aws_conn_json(moto_server.url)}

    applied = shell.run(
        "logs", "lifecycle", f"s3://{s3_bucket}/logs", "--days", "21", "--apply", "--json", env=env
    )

    assert applied.returncode == 0, applied.stderr
    result = json.loads(applied.stdout)
    assert result["applied"] is True and result["kept_rules"] == 0
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", env["AIRFLOW_CONN_AWS_DEFAULT"])
    store, _ = open_store(f"s3://{s3_bucket}/logs")
    (rule,) = store.get_lifecycle()["Rules"]
    assert rule["Expiration"] == {"Days": 21} and rule["Filter"] == {"Prefix": "logs/"}

    missing = shell.run(
        "logs", "lifecycle", "s3://no-such-bucket-here/logs", "--days", "3", "--apply", env=env
    )
    assert missing.stdout == ""
    assert one_error_line(missing) == (
        "platform-kit: error: S3 bucket 'no-such-bucket-here' does not exist; create it or fix the URL"
    )
    shell.assert_no_side_effects()

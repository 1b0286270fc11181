"""e2e-only DAG: a metadata-DB backup that an operator stops half-way, the way Airflow stops tasks.

``dump`` is the backup DAG's dump step (the engine inside ``task_failures``) with a ``pg_dump`` that
hangs after its first upload part (the test's wrapper in ``pg_bin_dir``). Marking the task failed makes
the supervisor SIGTERM it; the test checks that the upload was aborted and pg_dump stopped.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="e2e_stopped_backup",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["e2e"],
    default_args={"owner": "platform", "retries": 0},
    params={
        "destination": Param("", type="string"),
        "pg_bin_dir": Param("", type="string"),
    },
    doc_md=__doc__,
):

    @task
    def dump(params=None) -> str:
        from platform_kit.adapters import task_failures
        from platform_kit.backup.engine import create_backup
        from platform_kit.backup.source import target_from_connection
        from platform_kit.storage import open_store

        with task_failures():
            store, dest = open_store(params["destination"])
            source = target_from_connection("airflow_metadb")
            manifest = create_backup(
                source, store, dest, pg_bin_dir=params["pg_bin_dir"], check_destination=False
            )
        return manifest["set_id"]

    dump()

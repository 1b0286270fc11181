"""What every platform-kit maintenance DAG shares: its header, and the Params that mean the same thing.

DAG files stay short and declarative: they call :func:`maintenance_dag` and add their own Params to the
shared ones below, so a connection or retention knob reads and validates the same in every trigger form.

**Optional Params** (a destination that falls back to a Variable, a Slack connection, a size cap) are
``None`` by default with the schema type ``["null", "string"]``. The UI's trigger form treats a field as
required unless its type includes ``"null"``, and sends a blank text field as ``null``; with a plain
``"string"`` type and a ``""`` default the form starts invalid and the Trigger button stays greyed out.
Task adapters read them with :func:`optional_text`, so ``None``, ``""`` and blanks all mean "not set".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from platform_kit import defaults
from platform_kit.alerts.deadlines import complete_dag, maintenance_deadline

OWNER = "platform"
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")


def maintenance_dag(
    dag_id: str,
    *,
    description: str,
    doc_md: str,
    tags: list[str],
    params: dict[str, Param],
    schedule: Any = "@daily",
) -> DAG:
    """A DAG with the settings every maintenance DAG shares.

    Paused at creation (maintenance is switched on deliberately), one run at a time (two backups or
    cleanups must never overlap), no catch-up (a missed day is not worth several runs in a row), no task
    retries (a failed destructive step is planned again by the next run, not blindly repeated), owned by
    ``platform`` and tagged ``platform-kit`` and ``maintenance``. A deadline after the run is queued
    (``[platform_kit] <name>_deadline_minutes``, see :mod:`platform_kit.settings`): a run still going then
    gets a missed-deadline alert, and a finished-late follow-up when it ends.

    :param dag_id: the DAG id (``platform_kit_...``).
    :param description: one line shown in the DAG list.
    :param doc_md: the DAG's documentation: when to use it, its Params, what to watch for.
    :param tags: tags added to ``platform-kit`` and ``maintenance``.
    :param params: the trigger form: every knob, each with a schema and a description.
    :param schedule: ``@daily`` unless given (an Asset list for DAGs that follow another).
    """
    dag = DAG(
        dag_id=dag_id,
        description=description,
        doc_md=doc_md,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=True,
        tags=["platform-kit", "maintenance", *tags],
        default_args={"owner": OWNER, "retries": 0},
        params=params,
        deadline=maintenance_deadline(dag_id),
    )
    # Also done by the kit's cluster policy; here too, for installs that mount plugins/ without it.
    complete_dag(dag)
    return dag


def maintenance_task(task_id: str, **kwargs: Any):
    """``@task`` for a maintenance step: what it returns is ONE XCom, ``return_value``.

    A ``-> dict`` return annotation makes a plain ``@task`` push every key of the dict as an XCom of its
    own (``multiple_outputs``): a backup run left 19 keys, most of them shown blank in the UI. The run
    summary is the ``return_value`` of the DAG's last task.

    :param task_id: the task id.
    :param kwargs: any other ``@task`` argument (``outlets``, ``queue``, ...).
    """
    return task(task_id=task_id, multiple_outputs=False, **kwargs)


def connection_param(default: str, description: str) -> Param:
    """A required connection id."""
    return Param(default, type="string", minLength=1, description=description)


def optional_text_param(description: str, **schema: Any) -> Param:
    """An optional text Param: empty in the form (sent as ``null``), ``None`` or ``""`` means "not set".

    :param description: shown under the field; say what an empty field means.
    :param schema: extra JSON-schema keywords for a value that is set (e.g. ``pattern``).
    """
    return Param(None, type=["null", "string"], description=description, **schema)


def destination_param(variable: str) -> dict[str, Param]:
    """``destination``: where the run writes; empty = the Airflow Variable ``variable``, read at run time."""
    return {
        "destination": optional_text_param(
            f"s3://bucket/prefix or gs://bucket/prefix; empty = Variable {variable}."
        )
    }


def optional_text(params: Mapping[str, Any], name: str) -> str | None:
    """The value of an optional text Param, stripped; ``None`` when it is missing, ``None`` or blank.

    The one way task adapters read optional Params, so ``null`` from the trigger form, ``""`` from an API
    caller and a stray space all mean "use the default", in every DAG alike.
    """
    value = params.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def metadb_param() -> dict[str, Param]:
    """``metadb_conn_id``: the dedicated connection to the metadata DB (tasks cannot use Airflow's own)."""
    return {
        "metadb_conn_id": connection_param(defaults.METADB_CONN_ID, "postgres connection to the metadata DB.")
    }


def storage_params() -> dict[str, Param]:
    """``aws_conn_id`` and ``google_conn_id``: which connection serves ``s3://`` and ``gs://`` URLs."""
    return {
        "aws_conn_id": connection_param(defaults.AWS_CONN_ID, "aws connection for s3:// URLs."),
        "google_conn_id": connection_param(
            defaults.GOOGLE_CONN_ID, "google_cloud_platform connection for gs:// URLs."
        ),
    }


def retention_params(what: str) -> dict[str, Param]:
    """``keep_daily/weekly/monthly``: the grandfather-father-son retention of backups and exports.

    :param what: the noun in the descriptions, e.g. ``"backup"``.
    """
    counts = {
        "daily": (defaults.KEEP_DAILY, 366, "N days"),
        "weekly": (defaults.KEEP_WEEKLY, 520, "M ISO weeks"),
        "monthly": (defaults.KEEP_MONTHLY, 240, "K months"),
    }
    return {
        f"keep_{period}": Param(
            default,
            type="integer",
            minimum=0,
            maximum=maximum,
            description=f"Newest {what} of each of the last {span}.",
        )
        for period, (default, maximum, span) in counts.items()
    }


def slack_param() -> dict[str, Param]:
    """``slack_conn_id``: where the run summary is posted (empty: log and XCom only)."""
    return {
        "slack_conn_id": optional_text_param("Slack webhook connection for the run summary; empty = none.")
    }

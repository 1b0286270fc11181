"""Clients built from Airflow connections.

* S3: the ``aws`` connection through ``S3Hook`` (so ``endpoint_url``, ``region_name``, ``config_kwargs``
  and role settings in its extra apply). For S3-compatible stores that reject boto3's default CRC
  checksums (MinIO, B2, OVH...), set ``request_checksum_calculation: "when_required"`` in the extra (or
  pass it here); ``response_checksum_validation`` follows it unless set too.
* GCS: the ``google_cloud_platform`` connection through ``GCSHook``. When the connection's extra has
  ``emulator_host`` (or the environment has ``STORAGE_EMULATOR_HOST``) the client talks to that endpoint
  with anonymous credentials instead; ``project`` comes from the extra.

Provider and SDK imports happen inside the functions so that DAG files stay cheap to parse.
"""

from __future__ import annotations

import os
from typing import Any

from platform_kit.storage.base import ObjectStore, one_line
from platform_kit.storage.errors import StorageError
from platform_kit.storage.url import StorageURL, parse_url

AWS_CONN_TYPES = ("aws", "s3")
GOOGLE_CONN_TYPES = ("google_cloud_platform", "gcpssh")


def get_connection(conn_id: str, expected_types: tuple[str, ...], *, required: bool = True) -> Any | None:
    """Look an Airflow connection up and check its type.

    :param conn_id: the connection id.
    :param expected_types: accepted ``conn_type`` values; the first is named in errors.
    :param required: when False a missing connection returns ``None`` instead of raising.
    :raises StorageError: missing (if required) or of another type.
    """
    from airflow.sdk.bases.hook import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:
        if not required and type(exc).__name__ == "AirflowNotFoundException":
            return None
        raise StorageError(
            f"connection {conn_id!r} not found ({one_line(exc)}); create it with conn type "
            f"{expected_types[0]!r} or pass another conn id"
        ) from exc
    conn_type = (conn.conn_type or "").lower()
    if conn_type not in expected_types:
        raise StorageError(
            f"connection {conn_id!r} has conn type {conn.conn_type!r}, expected {expected_types[0]!r}; "
            "fix the connection or pass the right conn id"
        )
    return conn


def s3_client(
    aws_conn_id: str | None = "aws_default", *, request_checksum_calculation: str | None = None
) -> Any:
    """A boto3 S3 client for ``aws_conn_id`` (``None``: boto3's default credential chain).

    :param request_checksum_calculation: ``"when_supported"`` (boto3's default) or ``"when_required"``;
        overrides the connection extra of the same name.
    """
    import botocore.config
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    extra: dict[str, Any] = {}
    if aws_conn_id:
        conn = get_connection(aws_conn_id, AWS_CONN_TYPES, required=False)
        extra = dict(conn.extra_dejson) if conn is not None else {}
    hook = S3Hook(aws_conn_id=aws_conn_id)
    config = hook.config
    checksum = request_checksum_calculation or extra.get("request_checksum_calculation")
    if checksum:
        validation = extra.get("response_checksum_validation", checksum)
        config = config.merge(
            botocore.config.Config(
                request_checksum_calculation=checksum, response_checksum_validation=validation
            )
        )
    return hook.get_client_type(config=config)


def gcs_client(google_conn_id: str | None = "google_cloud_default") -> Any:
    """A ``google.cloud.storage.Client`` for ``google_conn_id``, or for the emulator it names."""
    from google.cloud import storage

    conn = get_connection(google_conn_id, GOOGLE_CONN_TYPES, required=False) if google_conn_id else None
    extra = dict(conn.extra_dejson) if conn is not None else {}
    emulator = extra.get("emulator_host") or os.environ.get("STORAGE_EMULATOR_HOST")
    project = extra.get("project") or extra.get("extra__google_cloud_platform__project")
    if emulator:
        from google.auth.credentials import AnonymousCredentials

        endpoint = emulator if "://" in emulator else f"http://{emulator}"
        return storage.Client(
            project=project or "platform-kit",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    if conn is None and google_conn_id:
        raise StorageError(
            f"connection {google_conn_id!r} not found; create a google_cloud_platform connection or pass "
            "another conn id"
        )
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    return GCSHook(gcp_conn_id=google_conn_id).get_conn()


def resolve_destination(param: str | None, variable_key: str) -> str:
    """The destination URL of a run: the Param if set, else the Airflow Variable ``variable_key``.

    Call it inside a task (never at parse time) so the Variable is read when the run starts.

    :raises StorageError: neither is set.
    """
    if param and param.strip():
        return param.strip()
    from airflow.sdk import Variable

    value = Variable.get(variable_key, default=None)
    if not value or not str(value).strip():
        raise StorageError(
            f"no destination: set the destination Param or the Variable {variable_key} "
            "(e.g. s3://bucket/prefix or gs://bucket/prefix)"
        )
    return str(value).strip()


def open_store(
    url: str | StorageURL,
    *,
    aws_conn_id: str | None = "aws_default",
    google_conn_id: str | None = "google_cloud_default",
    request_checksum_calculation: str | None = None,
) -> tuple[ObjectStore, StorageURL]:
    """The store for ``url`` and the parsed URL, e.g. ``store, dest = open_store("s3://b/metadb")``.

    :param url: ``s3://bucket/prefix`` or ``gs://bucket/prefix``.
    :param aws_conn_id: connection used for ``s3://`` URLs.
    :param google_conn_id: connection used for ``gs://`` URLs.
    :param request_checksum_calculation: see :func:`s3_client`.
    :raises StorageError: bad URL, wrong connection type, missing connection.
    """
    parsed = url if isinstance(url, StorageURL) else parse_url(url)
    if parsed.scheme == "s3":
        from platform_kit.storage.s3 import S3Store

        client = s3_client(aws_conn_id, request_checksum_calculation=request_checksum_calculation)
        return S3Store(client, parsed.bucket), parsed
    from platform_kit.storage.gcs import GCSStore

    return GCSStore(gcs_client(google_conn_id), parsed.bucket), parsed

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

from platform_kit.connections import AWS_CONN_TYPES, GOOGLE_CONN_TYPES, get_connection
from platform_kit.defaults import AWS_CONN_ID, GOOGLE_CONN_ID
from platform_kit.exceptions import StorageError
from platform_kit.storage.base import ObjectStore
from platform_kit.storage.url import StorageURL, parse_url


def s3_client(
    aws_conn_id: str | None = AWS_CONN_ID, *, request_checksum_calculation: str | None = None
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


def gcs_client(google_conn_id: str | None = GOOGLE_CONN_ID) -> Any:
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


def resolve_destination(param: str | None, variable_key: str, *, param_name: str = "destination") -> str:
    """The destination URL of a run: the Param if set, else the Airflow Variable ``variable_key``.

    Call it inside a task (never at parse time) so the Variable is read when the run starts.

    :param param: the Param's value (blank or ``None`` = use the Variable).
    :param variable_key: the Variable holding the default destination.
    :param param_name: the Param's name, for the error message.
    :raises StorageError: neither is set.
    """
    if param and param.strip():
        return param.strip()
    from airflow.sdk import Variable

    value = Variable.get(variable_key, default=None)
    if not value or not str(value).strip():
        raise StorageError(
            f"no destination: set the {param_name} Param or the Variable {variable_key} "
            "(e.g. s3://bucket/prefix or gs://bucket/prefix)"
        )
    return str(value).strip()


def open_store(
    url: str | StorageURL,
    *,
    aws_conn_id: str | None = AWS_CONN_ID,
    google_conn_id: str | None = GOOGLE_CONN_ID,
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

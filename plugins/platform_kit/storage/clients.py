"""Clients built from Airflow connections.

* S3: the ``aws`` connection through ``S3Hook`` (so ``endpoint_url``, ``region_name``, ``config_kwargs``
  and role settings in its extra apply). For S3-compatible stores that reject boto3's default CRC
  checksums (MinIO, B2, OVH...), set ``request_checksum_calculation: "when_required"`` in the extra (or
  pass it here); ``response_checksum_validation`` follows it unless set too. Timeouts and attempts
  default to :data:`~platform_kit.defaults.STORAGE_CONNECT_TIMEOUT_SECONDS` and friends (botocore's own
  defaults let a silent endpoint hang a call for minutes); ``config_kwargs`` in the extra override them.
* GCS: the ``google_cloud_platform`` connection through ``GCSHook``. When the connection's extra has
  ``emulator_host`` (or the environment has ``STORAGE_EMULATOR_HOST``) the client talks to that endpoint
  with anonymous credentials instead; ``project`` comes from the extra.

Provider and SDK imports happen inside the functions so that DAG files stay cheap to parse.

This module is also where SDK failures become one-line :class:`StorageError` messages naming the fix
(:func:`s3_error_translator`, :func:`gcs_error_translator`, applied to every call of the stores that
:func:`open_store` returns): no credentials, an endpoint that does not answer, a missing bucket, access
denied, credentials rejected, a provider extra that is not installed.
"""

from __future__ import annotations

import os
from typing import Any

from platform_kit.connections import AWS_CONN_TYPES, GOOGLE_CONN_TYPES, get_connection
from platform_kit.defaults import (
    AWS_CONN_ID,
    GOOGLE_CONN_ID,
    STORAGE_ATTEMPTS,
    STORAGE_CONNECT_TIMEOUT_SECONDS,
    STORAGE_READ_TIMEOUT_SECONDS,
)
from platform_kit.exceptions import StorageError
from platform_kit.storage.base import ErrorTranslator, ObjectStore, translated_errors
from platform_kit.storage.url import StorageURL, parse_url
from platform_kit.utils import one_line

#: The extra of the kit that brings each scheme's provider and SDK.
_EXTRAS = {
    "s3": ("amazon", "apache-airflow-providers-amazon"),
    "gs": ("google", "apache-airflow-providers-google"),
}


def missing_extra(scheme: str, exc: ImportError) -> StorageError:
    """The error for a ``s3://``/``gs://`` URL whose provider is not installed in this environment."""
    extra, provider = _EXTRAS[scheme]
    return StorageError(
        f"{scheme}:// URLs need the {extra} extra, which is not installed here ({one_line(exc)}); "
        f"install it with pip install 'airflow-platform-kit[{extra}]' (or {provider}) in this environment"
    )


def s3_client(
    aws_conn_id: str | None = AWS_CONN_ID, *, request_checksum_calculation: str | None = None
) -> Any:
    """A boto3 S3 client for ``aws_conn_id`` (``None``: boto3's default credential chain).

    :param request_checksum_calculation: ``"when_supported"`` (boto3's default) or ``"when_required"``;
        overrides the connection extra of the same name.
    """
    try:
        import botocore.config
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    except ImportError as exc:
        raise missing_extra("s3", exc) from None

    extra: dict[str, Any] = {}
    if aws_conn_id:
        conn = get_connection(aws_conn_id, AWS_CONN_TYPES, required=False)
        extra = dict(conn.extra_dejson) if conn is not None else {}
        if conn is None:
            aws_conn_id = None  # boto3's own credential chain, without the hook's "switching to empty"
    hook = S3Hook(aws_conn_id=aws_conn_id)
    bounded = botocore.config.Config(
        connect_timeout=STORAGE_CONNECT_TIMEOUT_SECONDS,
        read_timeout=STORAGE_READ_TIMEOUT_SECONDS,
        retries={"max_attempts": STORAGE_ATTEMPTS, "mode": "standard"},
    )
    config = bounded.merge(hook.config)  # what the connection's config_kwargs say wins
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
    try:
        from google.cloud import storage
    except ImportError as exc:
        raise missing_extra("gs", exc) from None

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
    try:
        from airflow.providers.google.cloud.hooks.gcs import GCSHook
    except ImportError as exc:
        raise missing_extra("gs", exc) from None

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
        translate = s3_error_translator(parsed.bucket, aws_conn_id, client.meta.endpoint_url)
        return S3Store(client, parsed.bucket, translate_error=translate), parsed
    from platform_kit.storage.gcs import GCSStore

    try:
        translate = gcs_error_translator(parsed.bucket, google_conn_id)
    except ImportError as exc:
        raise missing_extra("gs", exc) from None
    with translated_errors(translate):  # finding credentials can already fail
        client = gcs_client(google_conn_id)
    return GCSStore(client, parsed.bucket, translate_error=translate), parsed


def _conn_hint(conn_id: str | None, conn_type: str) -> str:
    return f"{conn_type} connection {conn_id!r}" if conn_id else f"{conn_type} connection (none given)"


#: S3 error codes, grouped by what the user has to fix.
_S3_DENIED = {"403", "AccessDenied", "AllAccessDisabled", "Forbidden", "AccountProblem"}
_S3_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
}
_S3_WRONG_REGION = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}


def s3_error_translator(bucket: str, conn_id: str | None, endpoint: str | None) -> ErrorTranslator:
    """The translator :func:`open_store` gives an S3 store: botocore exceptions -> one-line errors.

    :param bucket: the bucket, named in messages.
    :param conn_id: the aws connection in use (``None``: boto3's default credential chain).
    :param endpoint: the endpoint the client talks to, named when it does not answer.
    """
    from botocore import exceptions as boto

    from platform_kit.storage.s3 import error_code

    where = f"s3://{bucket}"
    conn = _conn_hint(conn_id, "aws")
    conn_env = f"AIRFLOW_CONN_{(conn_id or 'AWS_DEFAULT').upper()}"

    def translate(exc: BaseException) -> StorageError | None:
        if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
            return StorageError(
                f"no AWS credentials for {where}: define the {conn} (e.g. {conn_env} with login = access "
                "key id and password = secret key, or a role in the extra) or give this shell "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile"
            )
        if isinstance(
            exc,
            boto.EndpointConnectionError
            | boto.ConnectTimeoutError
            | boto.ReadTimeoutError
            | boto.ConnectionClosedError
            | boto.ProxyConnectionError
            | boto.SSLError,
        ):
            return StorageError(
                f"cannot reach the S3 endpoint {endpoint or 'of AWS'} for {where} ({one_line(exc)}); check "
                f"endpoint_url and region_name in the extra of the {conn}, and the network"
            )
        if isinstance(exc, boto.ClientError):
            code = error_code(exc)
            operation = getattr(exc, "operation_name", "") or "request"
            if code in ("NoSuchBucket",) or (code in ("404", "NotFound") and operation == "HeadBucket"):
                return StorageError(f"S3 bucket {bucket!r} does not exist; create it or fix the URL")
            if code in _S3_DENIED:
                return StorageError(
                    f"access to S3 bucket {bucket!r} denied ({operation}: {code}); give the {conn} "
                    "list, get, put and delete on the prefix (bucket policy or IAM)"
                )
            if code in _S3_BAD_CREDENTIALS:
                return StorageError(
                    f"S3 rejected the credentials for {where} ({code}); fix the access key and secret of "
                    f"the {conn}"
                )
            if code in _S3_WRONG_REGION:
                return StorageError(
                    f"S3 bucket {bucket!r} is in another region ({code}); set region_name in the extra of "
                    f"the {conn}"
                )
            return StorageError(f"S3 {operation} on {where} failed ({one_line(exc)}); check the {conn}")
        if isinstance(exc, boto.BotoCoreError):
            return StorageError(f"S3 request for {where} failed ({one_line(exc)}); check the {conn}")
        return None

    return translate


def gcs_error_translator(bucket: str, conn_id: str | None) -> ErrorTranslator:
    """The translator :func:`open_store` gives a GCS store: google-cloud exceptions -> one-line errors."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    where = f"gs://{bucket}"
    conn = _conn_hint(conn_id, "google_cloud_platform")

    def translate(exc: BaseException) -> StorageError | None:
        if isinstance(exc, auth.DefaultCredentialsError | auth.RefreshError):
            return StorageError(
                f"no usable Google credentials for {where} ({one_line(exc, limit=150)}); set key_path or "
                f"keyfile_dict in the {conn}, or GOOGLE_APPLICATION_CREDENTIALS in this shell"
            )
        if isinstance(exc, api.Unauthorized):
            return StorageError(f"GCS rejected the credentials for {where}; fix the {conn}")
        if isinstance(exc, api.Forbidden):
            return StorageError(
                f"access to GCS bucket {bucket!r} denied ({one_line(exc, limit=150)}); grant the {conn}'s "
                "service account storage.objects.create/delete/get/list on it"
            )
        if isinstance(exc, api.NotFound):
            return StorageError(f"GCS bucket {bucket!r} or object not found ({one_line(exc, limit=150)})")
        if isinstance(
            exc, requests.ConnectionError | requests.Timeout | api.RetryError | api.ServiceUnavailable
        ):
            return StorageError(
                f"cannot reach GCS for {where} ({one_line(exc, limit=150)}); check the {conn} (project, "
                "emulator_host) and the network"
            )
        if isinstance(exc, api.GoogleAPICallError):
            return StorageError(f"GCS request for {where} failed ({one_line(exc)}); check the {conn}")
        return None

    return translate

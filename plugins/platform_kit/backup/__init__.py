"""Metadata-DB backups: pg_dump streamed to S3/GCS, verified, rotated, restorable.

* :mod:`~platform_kit.backup.engine` - preflight and :func:`create_backup`.
* :mod:`~platform_kit.backup.restore` - :func:`verify_backup`, :func:`restore_backup`.
* :mod:`~platform_kit.backup.tasks` - thin adapters the DAG calls.
* :mod:`~platform_kit.backup.cli` - ``platform-kit backup ...``.
"""

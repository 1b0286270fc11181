"""Complete, encrypted, re-importable export of Airflow Variables and Connections.

Modules, one concept each:

* :mod:`~platform_kit.export.collect` reads every stored variable and connection (``db`` or ``sdk`` mode;
  :mod:`~platform_kit.export.dbread` is the ``db`` mode's child process);
* :mod:`~platform_kit.export.format` is the document and the files ``airflow ... import`` reads back;
* :mod:`~platform_kit.export.crypto` seals it (AES-256-GCM, key fingerprint, tamper detection);
* :mod:`~platform_kit.export.keys` finds the key (connections come from :mod:`platform_kit.connections`);
* :mod:`~platform_kit.export.api` talks to the REST API as a service account;
* :mod:`~platform_kit.export.engine` runs one export; :mod:`~platform_kit.export.publish` puts it on
  S3/GCS through :mod:`platform_kit.storage` (manifest last, shared retention);
* :mod:`~platform_kit.export.restore` imports into an Airflow; :mod:`~platform_kit.export.cli` is
  ``platform-kit export`` (``create`` runs the engine from a shell); :mod:`~platform_kit.export.tasks` is
  the DAG's task.
"""

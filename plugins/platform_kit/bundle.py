"""A DAG bundle that serves the maintenance and example DAGs shipped inside the package.

Add it next to your own DAGs (keep the ``dags-folder`` entry: setting the list replaces the default)::

    [dag_processor]
    dag_bundle_config_list = [
        {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {}},
        {"name": "platform-kit", "classpath": "platform_kit.bundle.PlatformDagBundle", "kwargs": {}}
    ]

The same value must be set on the dag-processor, scheduler, api-server and workers.
"""

from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.bundles.local import LocalDagBundle


def shipped_dags_path() -> Path:
    """Where the bundled DAG files are: inside the wheel, or the repository's ``dags/`` in a checkout."""
    installed = Path(__file__).resolve().parent / "dags"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "dags"


class PlatformDagBundle(LocalDagBundle):
    """A :class:`LocalDagBundle` whose default path is the platform-kit DAGs.

    :param path: override the folder (defaults to :func:`shipped_dags_path`).
    """

    def __init__(self, *, path: str | None = None, **kwargs) -> None:
        super().__init__(path=path or str(shipped_dags_path()), **kwargs)

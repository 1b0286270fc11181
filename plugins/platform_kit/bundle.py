"""A DAG bundle that serves the maintenance DAGs (and, when asked, the example DAGs) shipped in the package.

Add it next to your own DAGs (keep the ``dags-folder`` entry: setting the list replaces the default)::

    [dag_processor]
    dag_bundle_config_list = [
        {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {}},
        {"name": "platform-kit", "classpath": "platform_kit.bundle.PlatformDagBundle", "kwargs": {}}
    ]

``"kwargs": {"include": "all"}`` adds the example DAGs, ``{"include": "examples"}`` serves only them.
The same value must be set on the dag-processor, scheduler, api-server and workers.
"""

from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.bundles.local import LocalDagBundle

from platform_kit.exceptions import ConfigurationError

#: What ``include`` can select: the sub-folder of the shipped DAGs it serves (``""`` = all of them).
INCLUDE_FOLDERS = {"maintenance": "maintenance", "examples": "examples", "all": ""}
#: Examples do not belong in production unless someone asks for them.
DEFAULT_INCLUDE = "maintenance"


def shipped_dags_path() -> Path:
    """Where the bundled DAG files are: inside the wheel, or the repository's ``dags/`` in a checkout."""
    installed = Path(__file__).resolve().parent / "dags"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "dags"


def included_dags_path(include: str = DEFAULT_INCLUDE) -> Path:
    """The folder :class:`PlatformDagBundle` serves for ``include``.

    :raises ConfigurationError: ``include`` is not one of :data:`INCLUDE_FOLDERS`.
    """
    if include not in INCLUDE_FOLDERS:
        choices = ", ".join(repr(choice) for choice in INCLUDE_FOLDERS)
        raise ConfigurationError(
            f"PlatformDagBundle include={include!r} is not one of {choices}; fix the bundle's kwargs in "
            "[dag_processor] dag_bundle_config_list"
        )
    return shipped_dags_path() / INCLUDE_FOLDERS[include]


class PlatformDagBundle(LocalDagBundle):
    """A :class:`LocalDagBundle` whose default path is the platform-kit DAGs.

    :param include: which of the shipped DAGs to serve: ``"maintenance"`` (the default: the four
        maintenance DAGs), ``"examples"`` (the example DAGs only) or ``"all"`` (both).
    :param path: serve this folder instead (``include`` is then ignored).
    """

    def __init__(self, *, include: str = DEFAULT_INCLUDE, path: str | None = None, **kwargs) -> None:
        super().__init__(path=path or str(included_dags_path(include)), **kwargs)
        self.include = include

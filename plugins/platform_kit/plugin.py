"""The Airflow plugin that registers platform-kit with every Airflow component.

Registered through the ``airflow.plugins`` entry point when the package is pip-installed, and found by
Airflow's plugins-folder scan when ``plugins/`` is mounted (as in the docker compose sandbox).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from platform_kit import __version__


class PlatformKitPlugin(AirflowPlugin):
    """Makes ``airflow plugins`` list platform-kit and its version. It registers nothing else: no views,
    macros, listeners or operators (the DAGs come from the bundle, the alert callbacks are imported by
    the DAGs that use them)."""

    name = "platform_kit"
    version = __version__

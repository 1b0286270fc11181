"""The environment for running the ``airflow`` CLI (or Airflow's models) against a test metadata DB.

Not a test module; ``tests/`` is on ``sys.path`` through its ``conftest.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from platform_kit.dbclean import url_from_dsn


def airflow_cli_env(dsn: str, home: Path) -> dict[str, str]:
    """This process's environment without Airflow settings, pointed at ``dsn`` with its own AIRFLOW_HOME.

    :param dsn: ``postgresql://`` DSN of the metadata DB.
    :param home: an empty folder to use as AIRFLOW_HOME.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=url_from_dsn(dsn),
    )
    return env

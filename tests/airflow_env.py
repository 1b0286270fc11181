"""The environment for running the ``airflow`` CLI (or Airflow's models) against a test metadata DB.

Not a test module; ``tests/`` is on ``sys.path`` through its ``conftest.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from platform_kit.dbclean import url_from_dsn


def airflow_cli_env(dsn: str, home: Path, *, fernet_key: str | None = None) -> dict[str, str]:
    """This process's environment pointed at ``dsn`` with its own AIRFLOW_HOME.

    Every inherited Airflow setting, connection and variable (``AIRFLOW*``) and libpq default (``PG*``) is
    dropped, so what the CLI sees is this DB and nothing the test runner happened to export.

    :param dsn: ``postgresql://`` DSN of the metadata DB.
    :param home: an empty folder to use as AIRFLOW_HOME.
    :param fernet_key: the key the DB's secrets are encrypted with; ``None`` leaves them unencrypted.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PG"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=url_from_dsn(dsn),
    )
    if fernet_key:
        env["AIRFLOW__CORE__FERNET_KEY"] = fernet_key
    return env


def migrated_metadata_db(
    pg,
    name: str,
    home: Path,
    fill: list[str] | None = None,
    timeout: float = 600,
    template: str | None = None,
):
    """Create database ``name`` in the cluster ``pg``, run ``airflow db migrate`` on it, then the ``fill``
    script (argv after the interpreter) in the same environment.

    :param template: a migrated database to copy instead of migrating (the session's ``migrated_metadb``
        fixture): a copy takes seconds, ``airflow db migrate`` minutes on a loaded 2-core machine.

    :returns: ``(dsn, what the fill script printed)``.
    """
    import subprocess
    import sys

    dsn = pg.create_database(name, template=template)
    env = airflow_cli_env(dsn, home)
    if template is None:
        migrate = [sys.executable, "-m", "airflow", "db", "migrate"]
        subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=timeout)
    printed = ""
    if fill:
        done = subprocess.run(
            [sys.executable, *fill], env=env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"{' '.join(fill)} failed:\n{done.stderr[-4000:]}"
        printed = done.stdout
    return dsn, printed

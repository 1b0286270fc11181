"""How the ``platform-kit`` command runs Airflow inside a shell: its home, and how loud it is.

Importing Airflow creates ``$AIRFLOW_HOME/logs`` (``~/airflow/logs`` when ``AIRFLOW_HOME`` is unset), and
connecting to its default SQLite URL creates ``airflow.db`` there. The ``platform-kit`` command must not
leave either behind on a machine where Airflow was never set up, so :func:`prepare_shell` (called by
:func:`platform_kit.cli.main` before anything imports Airflow) points Airflow at a throwaway home, removed
when the command exits, unless this shell already has an Airflow home:

* ``AIRFLOW_HOME`` or ``AIRFLOW_CONFIG`` is set, or
* ``~/airflow`` exists (an Airflow installed with the defaults).

Settings from the environment (``AIRFLOW__SECTION__KEY``, ``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*``) apply
either way; only files Airflow would write are redirected. :func:`has_airflow_config` then tells whether
an empty ``[core] fernet_key`` really means "this Airflow has none" or only "this shell does not know it".

Airflow and its providers log at INFO when they look connections up and build clients; on a terminal
that buries the command's own output and its one-line errors, so the command runs Airflow at WARNING
(``--verbose``, or ``AIRFLOW__LOGGING__LOGGING_LEVEL``, brings the rest back). The kit's own progress
lines (``platform_kit.*``) stay at INFO.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

#: Marks a process (and its children) whose AIRFLOW_HOME is a throwaway one made by :func:`prepare_shell`.
THROWAWAY_MARKER = "PLATFORM_KIT_THROWAWAY_AIRFLOW_HOME"
#: Environment variables that configure an Airflow (its metadata DB or its Fernet key) without a file.
_CONFIGURING_VARIABLES = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CORE__FERNET_KEY",
)


def default_home() -> Path:
    """``~/airflow``: the home Airflow uses when ``AIRFLOW_HOME`` is unset."""
    return Path("~/airflow").expanduser()


def prepare_shell(*, verbose: bool = False) -> Path | None:
    """Set Airflow up for a shell command before anything imports it; returns the throwaway home made
    for it (``None``: the shell's own Airflow home is used).

    The throwaway folder is removed when the process exits; on ``SIGTERM``/``SIGINT`` too, because
    :func:`platform_kit.cli.main` turns them into a normal exit (:mod:`platform_kit.interrupts`, the one
    place that handles signals). Child processes inherit it through ``AIRFLOW_HOME``. Calling this again
    returns the same folder.

    :param verbose: keep Airflow's and the providers' INFO logs.
    """
    if "airflow" not in sys.modules:  # the level is read once, when importing Airflow configures logging
        if not verbose:
            os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        logging.getLogger("platform_kit").setLevel(logging.INFO)
    if os.environ.get(THROWAWAY_MARKER):
        return Path(os.environ["AIRFLOW_HOME"])
    if os.environ.get("AIRFLOW_HOME") or os.environ.get("AIRFLOW_CONFIG") or default_home().exists():
        return None
    home = Path(tempfile.mkdtemp(prefix="platform-kit-airflow-home-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ[THROWAWAY_MARKER] = "1"
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


def has_airflow_config() -> bool:
    """True when this process reads a real Airflow configuration: a config file, or settings that only
    an Airflow deployment sets (its DB URL or Fernet key, possibly as ``_CMD``/``_SECRET``).

    False in a shell where :func:`prepare_shell` had to make a throwaway home and nothing else configures
    Airflow: then Airflow's settings are its built-in defaults and say nothing about the real deployment.
    """
    if not os.environ.get(THROWAWAY_MARKER):
        home = Path(os.environ.get("AIRFLOW_HOME") or default_home())
        config = Path(os.environ.get("AIRFLOW_CONFIG") or home / "airflow.cfg")
        if config.is_file():
            return True
    return any(name.startswith(_CONFIGURING_VARIABLES) for name in os.environ)


#: The real stdout while :func:`stdout_for_result` is active (a nested call hands it out again).
_result_stream: TextIO | None = None


@contextlib.contextmanager
def stdout_for_result() -> Iterator[TextIO]:
    """Keep stdout for a command's result (``--json`` must parse); yields the real stdout.

    Inside the block whatever else would reach stdout goes to stderr: ``print``, and logging handlers
    writing to stdout (Airflow configures one when it is first imported, normally inside the block, so it
    picks up the redirected stream; one configured earlier in this process is pointed at stderr for the
    duration). :func:`platform_kit.cli.main` wraps every command in it and hands the stream to the
    command as ``args.results``; a nested call yields the same real stdout.
    """
    global _result_stream
    if _result_stream is not None:
        yield _result_stream
        return
    results = sys.stdout
    moved = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is results
    ]
    for handler in moved:
        handler.setStream(sys.stderr)
    _result_stream = results
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield results
    finally:
        _result_stream = None
        for handler in moved:
            handler.setStream(results)

"""Keep the twin's Airflow on loopback: a task-log server bound to 127.0.0.1, and the host name it is
reached at.

Airflow's own log servers (started by the scheduler for LocalExecutor tasks and by the triggerer) listen
on every interface with no setting to change that, so the twin starts them with ``--skip-serve-logs`` and
runs Airflow's log-server app here instead, on 127.0.0.1 (``python -m twin.loopback --port N``). Tasks
record :func:`hostname` as their host (``[core] hostname_callable``), so the api-server fetches the logs
of running and deferred tasks from this server, as it would from a worker.
"""

from __future__ import annotations

import argparse

LOOPBACK = "127.0.0.1"


def hostname() -> str:
    """``[core] hostname_callable`` of the twin: the address its log server listens on."""
    return LOOPBACK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    import uvicorn

    from platform_kit.version_compat import task_log_server_app

    uvicorn.run(task_log_server_app(), host=LOOPBACK, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

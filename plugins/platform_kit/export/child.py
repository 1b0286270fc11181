"""Child-process side of ``export import --via cli``: every variable and connection in one transaction.

Started by :class:`~platform_kit.dbclean.launcher.ChildLauncher` as ``python -m platform_kit.export.child
RESULT_FD`` in the operator's environment (its ``[database] sql_alchemy_conn`` and Fernet key decide
the target), with the checked files' content as a JSON request on stdin. ``airflow variables import`` and
``airflow connections import`` commit each file (connections: each row) separately, so a failure half-way
leaves half an import behind; here nothing is committed unless everything was written.

The result (counts, or ``conflicts`` for ``on_existing=fail``, or a one-line ``error``) goes to
the pipe ``RESULT_FD`` as JSON.
"""

from __future__ import annotations

import sys
from typing import Any

from platform_kit.utils import one_line


def import_all(request: dict[str, Any]) -> dict[str, Any]:
    """Write ``request["variables"]`` and ``request["connections"]`` in one session, committed at the end.

    :returns: counts per outcome, or ``{"conflicts": ...}`` (nothing written) for ``on_existing=fail``.
    """
    from sqlalchemy import select

    from platform_kit.export.format import importable_connection, split_variable_entry
    from platform_kit.version_compat import create_session, orm_models

    Variable, Connection = orm_models()
    variables: dict[str, Any] = request["variables"]
    connections: dict[str, Any] = request["connections"]
    on_existing: str = request["on_existing"]

    with create_session() as session:  # commits on success, rolls everything back on any error
        existing_keys = set(session.scalars(select(Variable.key).where(Variable.key.in_(list(variables)))))
        existing_ids = {
            conn_id: row_id
            for conn_id, row_id in session.execute(
                select(Connection.conn_id, Connection.id).where(Connection.conn_id.in_(list(connections)))
            )
        }
        if on_existing == "fail" and (existing_keys or existing_ids):
            return {"conflicts": {"variables": sorted(existing_keys), "connections": sorted(existing_ids)}}
        skip = on_existing == "skip"
        written_vars = written_conns = 0
        for key, entry in variables.items():
            if skip and key in existing_keys:
                continue
            value, description = split_variable_entry(entry)
            Variable.set(key, value, description, session=session)
            written_vars += 1
        for conn_id, entry in connections.items():
            if skip and conn_id in existing_ids:
                continue
            conn = Connection(conn_id=conn_id, **importable_connection(entry))
            if conn_id in existing_ids:
                conn.id = existing_ids[conn_id]  # replace that row, as `airflow connections import` does
            session.merge(conn)
            written_conns += 1
        session.flush()  # surface constraint errors here, inside the transaction
    return {
        "variables": written_vars,
        "connections": written_conns,
        "variables_skipped_existing": len(variables) - written_vars,
        "connections_skipped_existing": len(connections) - written_conns,
    }


def main(argv: list[str]) -> int:
    from platform_kit.dbclean.launcher import child_main

    # The server's own words (psycopg2's first line), never SQLAlchemy's "Background on this error".
    return child_main(argv, import_all, lambda exc: {"error": one_line(exc)})


if __name__ == "__main__":
    sys.exit(main(sys.argv))

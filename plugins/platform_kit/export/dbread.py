"""Child side of the export's ``db`` mode: every variable and connection row, decrypted with Airflow's
Fernet key.

Started by :func:`platform_kit.export.collect.collect_from_db` through
:class:`~platform_kit.dbclean.launcher.ChildLauncher`: this interpreter alone holds the metadata-DB URL (in
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``) and reads ``[core] fernet_key`` from the configuration it
inherits. It

* selects the two tables in one read-only, repeatable-read transaction (variables and connections from
  the same snapshot), from the tables rather than the ORM classes: loading a model registers its value
  with the secrets masker, which recompiles one regex per secret (what makes ``airflow variables export``
  quadratic). Nothing here registers or prints a value;
* decrypts what Airflow stored encrypted with Airflow's own helper (``get_fernet()``: every key of a
  rotation), following the models' rules for which fields are encrypted;
* fails, naming each row by key/id and never a value, when a value cannot be decrypted or the key is
  missing: an export must never carry garbage or silently drop a secret (the ORM logs and returns
  ``None`` for a variable it cannot decrypt).

The rows go back to the parent over the launcher's private result pipe (never a file); progress lines
carry counts only.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any

from platform_kit.exceptions import ExportError, PlatformKitError
from platform_kit.utils import one_line

MAX_NAMED = 10  # rows named in an error line before it only counts


def _named(rows: list[str]) -> str:
    shown = ", ".join(rows[:MAX_NAMED])
    return shown + (f" and {len(rows) - MAX_NAMED} more" if len(rows) > MAX_NAMED else "")


class _Decryptor:
    """Decrypts stored fields; remembers every row it could not decrypt instead of guessing."""

    def __init__(self, fernet: Any):
        from cryptography.fernet import InvalidToken

        self._fernet = fernet
        self._invalid = (InvalidToken, UnicodeDecodeError, TypeError, ValueError)
        self.undecryptable: list[str] = []
        self.encrypted_without_key: list[str] = []
        self.decrypted = 0

    def plain(self, stored: str | None, encrypted: bool, where: str) -> str | None:
        if not encrypted:
            return stored
        if not self._fernet.is_encrypted:
            self.encrypted_without_key.append(where)
            return None
        try:
            value = self._fernet.decrypt(stored.encode("utf-8")).decode("utf-8")
        except self._invalid:
            self.undecryptable.append(where)
            return None
        self.decrypted += 1
        return value

    def check(self) -> None:
        if self.encrypted_without_key:
            raise ExportError(
                f"{len(self.encrypted_without_key)} stored values are Fernet-encrypted but [core] "
                f"fernet_key is empty where the export runs ({_named(self.encrypted_without_key)}); give it "
                "the metadata DB's Fernet key (AIRFLOW__CORE__FERNET_KEY, the same as the scheduler's) "
                "or use mode=sdk; nothing was exported"
            )
        if self.undecryptable:
            raise ExportError(
                f"{len(self.undecryptable)} stored values cannot be decrypted with [core] fernet_key "
                f"({_named(self.undecryptable)}); set the key the metadata DB was written with (during a "
                "rotation: new,old) or repair those rows; nothing was exported"
            )


def _fernet() -> Any:
    from platform_kit.version_compat import airflow_fernet

    try:
        return airflow_fernet()
    except ExportError:
        raise
    except Exception as exc:  # Airflow's "Could not create Fernet object: ..." (never contains the key)
        raise ExportError(
            f"[core] fernet_key is not usable ({one_line(exc)}); set it to the metadata DB's Fernet key"
        ) from None


def read(request: dict[str, Any]) -> dict[str, Any]:
    """Every variable and connection row, decrypted (the ``read`` action)."""
    from sqlalchemy import select
    from sqlalchemy.exc import DBAPIError

    from platform_kit.version_compat import settings_engine, variable_and_connection_tables

    source = request.get("source") or "the metadata-DB connection"
    fernet = _fernet()
    variable, connection = variable_and_connection_tables()
    started = time.monotonic()
    try:
        with settings_engine().connect() as db:
            snapshot = db.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with snapshot.begin():
                variables = snapshot.execute(select(*variable.c).order_by(variable.c.key)).mappings().all()
                connections = (
                    snapshot.execute(select(*connection.c).order_by(connection.c.conn_id)).mappings().all()
                )
    except DBAPIError as exc:
        raise ExportError(
            f"cannot read Airflow's variable and connection tables through {source}: {one_line(exc)}; "
            "check that it points at the Airflow metadata DB with a role that may read them"
        ) from None
    read_at = time.monotonic()

    decryptor = _Decryptor(fernet)
    out_variables = []
    for row in variables:
        where = f"variable {row['key']!r} (id {row['id']})"
        # The model's rule: a stored value is encrypted when is_encrypted is set (even if empty).
        stored = row["val"]
        value = decryptor.plain(stored, bool(row["is_encrypted"]) and stored is not None, where)
        out_variables.append([row["key"], value, row["description"]])
    out_connections = []
    for row in connections:
        where = f"connection {row['conn_id']!r} (id {row['id']})"
        fields = {
            name: row[name] for name in ("conn_id", "conn_type", "description", "host", "schema", "login")
        }
        fields["port"] = row["port"]
        # The model's rule for password and extra: only a non-empty stored text is ever decrypted.
        fields["password"] = decryptor.plain(
            row["password"], bool(row["is_encrypted"] and row["password"]), f"{where} password"
        )
        fields["extra"] = decryptor.plain(
            row["extra"], bool(row["is_extra_encrypted"] and row["extra"]), f"{where} extra"
        )
        out_connections.append(fields)
    decryptor.check()
    done = time.monotonic()
    print(
        f"read {len(out_variables)} variables and {len(out_connections)} connections in "
        f"{read_at - started:.2f}s; decrypted {decryptor.decrypted} values in {done - read_at:.2f}s",
        flush=True,
    )
    return {
        "variables": out_variables,
        "connections": out_connections,
        "fernet": "encrypted" if fernet.is_encrypted else "no key",
        "timings": {
            "read_rows_seconds": round(read_at - started, 3),
            "decrypt_seconds": round(done - read_at, 3),
        },
    }


def _failure(exc: Exception) -> dict[str, Any]:
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, PlatformKitError):
        return {"error": str(exc), "fatal": True}  # already one line, written to be read whole
    # An unreachable DB or a refused login is expected: the parent's one line says it all. Anything
    # else is a bug worth its traceback (scrubbed by the parent).
    if not isinstance(exc, OperationalError):
        traceback.print_exc()
    return {"error": one_line(exc, with_type=True), "fatal": True}


def main(argv: list[str]) -> int:
    from platform_kit.dbclean.launcher import child_main

    return child_main(argv, read, _failure)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

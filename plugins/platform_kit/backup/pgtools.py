"""The PostgreSQL client programs: finding them, their versions, and running them without pipes that
hide exit codes."""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from platform_kit.backup.source import PgTarget
from platform_kit.exceptions import BackupError

#: Every ordinary table outside the system schemas, as (schema, name); row counts are taken over these.
TABLES_SQL = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1, 2"
)


#: Every user object a restore could collide with: tables, views, sequences, types and functions in any
#: schema that is not PostgreSQL's own (``pg_*``, ``information_schema``), minus extension members.
USER_OBJECTS_SQL = """
SELECT o.kind, o.nspname, o.name FROM (
    SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'table' END AS kind,
           n.nspname, c.relname AS name, c.oid, 'pg_class'::regclass AS catalog
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION ALL
    SELECT 'type', n.nspname, t.typname, t.oid, 'pg_type'::regclass
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE (t.typtype IN ('e', 'd', 'r', 'm') OR (t.typtype = 'b' AND t.typcategory <> 'A')
            OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
           n.nspname, p.proname, p.oid, 'pg_proc'::regclass
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
) o
WHERE o.nspname NOT LIKE 'pg\\_%' AND o.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = o.catalog AND d.objid = o.oid AND d.deptype = 'e')
ORDER BY 1, 2, 3
"""


def user_objects(conn: Any) -> list[tuple[str, str, str]]:
    """``(kind, schema, name)`` of every user object in the database of ``conn`` (see
    :data:`USER_OBJECTS_SQL`); empty means a restore cannot collide with anything."""
    with conn.cursor() as cur:
        cur.execute(USER_OBJECTS_SQL)
        return [tuple(row) for row in cur.fetchall()]


def server_error(lines: Iterable[str], *, limit: int = 300) -> str | None:
    """The server's own ``ERROR:`` line in a client's stderr, e.g. ``ERROR: relation "log" already
    exists``, without the client's prefix and the SQL that follows it; ``None`` if there is none."""
    for line in lines:
        at = line.find("ERROR:")
        if at >= 0:
            text = " ".join(line[at:].split())
            return text if len(text) <= limit else text[: limit - 1] + "…"
    return None


def qualified_name(schema: str, name: str) -> str:
    """How manifests name a table: bare for ``public``, else ``schema.table``."""
    return name if schema == "public" else f"{schema}.{name}"


def count_rows(cur: Any, schema: str, name: str) -> int:
    """Exact ``count(*)`` of one table (names come from pg_class, quoted)."""
    cur.execute(f'SELECT count(*) FROM ONLY "{schema}"."{name}"')
    return int(cur.fetchone()[0])


_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def find_tool(name: str, pg_bin_dir: str | None = None) -> str:
    """Absolute path of ``pg_dump``/``pg_restore``, from ``pg_bin_dir`` if given, else from ``PATH``."""
    if pg_bin_dir:
        path = Path(pg_bin_dir) / name
        if path.is_file():
            return str(path)
        raise BackupError(
            f"{name} not found in {pg_bin_dir}; point pg_bin_dir at a PostgreSQL client bin directory"
        )
    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} not found on PATH; install the PostgreSQL client (postgresql-client, same major as the "
            "server or newer) or pass pg_bin_dir"
        )
    return found


def major_of(version: tuple[int, int]) -> tuple[int, ...]:
    """PostgreSQL 10+ majors are one number; before that two (9.6)."""
    return (version[0],) if version[0] >= 10 else version


def tool_version(path: str) -> tuple[tuple[int, int], str]:
    """``((15, 18), "pg_dump (PostgreSQL) 15.18 ...")`` from ``<tool> --version``."""
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackupError(f"could not run {path} --version ({exc}); reinstall the PostgreSQL client") from exc
    match = _VERSION_RE.search(out)
    if not match:
        raise BackupError(f"unrecognised version output from {path}: {out.strip()[:100]!r}")
    return (int(match.group(1)), int(match.group(2) or 0)), out.strip()


def server_version(conn: Any) -> tuple[tuple[int, int], str]:
    """``((15, 4), "15.4")`` for a psycopg connection."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int, current_setting('server_version')")
        num, text = cur.fetchone()
    version = (num // 10000, num % 10000) if num >= 100000 else (num // 10000, num // 100 % 100)
    return version, text.split()[0]


def check_client_not_older(
    tool: str, client: tuple[int, int], server: tuple[int, int], server_text: str
) -> None:
    """pg_dump refuses to dump a newer server major ("server version mismatch"); fail early instead."""
    if major_of(client) < major_of(server):
        wanted = ".".join(map(str, major_of(server)))
        raise BackupError(
            f"{tool} {client[0]}.{client[1]} is older than the server (PostgreSQL {server_text}); install "
            f"postgresql-client-{wanted} or newer (or set pg_bin_dir to its bin directory)"
        )


class ProcessStream:
    """A child's stdout as a readable stream whose EOF means success.

    ``read`` returns ``b""`` only after the process has exited with status 0; a non-zero status (or a
    kill) raises :class:`BackupError` instead, so whoever consumes the stream (an upload) aborts rather
    than committing truncated data. ``expect_magic`` additionally rejects output that does not start
    with those bytes, e.g. an empty dump.
    """

    def __init__(
        self, argv: list[str], target: PgTarget, *, expect_magic: bytes = b"", label: str = ""
    ) -> None:
        self.label = label or Path(argv[0]).name
        self._expect_magic = expect_magic
        self._seen = 0
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=target.env()
        )
        self._stderr_thread = threading.Thread(
            target=_drain, args=(self.proc.stderr, self._stderr), daemon=True
        )
        self._stderr_thread.start()

    def read(self, size: int = -1) -> bytes:
        assert self.proc.stdout is not None
        data = self.proc.stdout.read(size)
        if self._seen < len(self._expect_magic) and data:
            head = data[: len(self._expect_magic) - self._seen]
            if head != self._expect_magic[self._seen : self._seen + len(head)]:
                self.kill()
                raise BackupError(f"{self.label} produced unexpected output (not a custom-format dump)")
        self._seen += len(data)
        if data:
            return data
        returncode = self.proc.wait()
        self._stderr_thread.join(timeout=10)
        if returncode != 0:
            raise BackupError(
                f"{self.label} failed ({self._describe(returncode)}); {self.stderr_tail() or 'no output'}"
            )
        if self._seen < len(self._expect_magic):
            raise BackupError(f"{self.label} produced an empty dump; check its permissions on every table")
        return b""

    @property
    def bytes_read(self) -> int:
        return self._seen

    def stderr_tail(self) -> str:
        """The server's ``ERROR:`` line if there is one, else the last lines of stderr."""
        return server_error(self._stderr) or " | ".join(line for line in self._stderr if line)[-500:]

    def kill(self) -> None:
        """Stop the process if it still runs (e.g. because the upload failed)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    @staticmethod
    def _describe(returncode: int) -> str:
        return f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"


def _drain(stream: IO[bytes] | None, sink: collections.deque[str]) -> None:
    if stream is None:
        return
    for raw in stream:
        sink.append(raw.decode(errors="replace").strip())
    stream.close()

"""Parent side of work on a metadata DB through Airflow's ORM: runs a child interpreter.

The DB cleanup runs :mod:`platform_kit.dbclean.child` this way, ``export import --via cli`` runs
:mod:`platform_kit.export.child` and the export's ``db`` mode :mod:`platform_kit.export.dbread`. The child
gets the metadata-DB URL in its environment only (never on a command line, which ``ps`` shows), takes a
JSON request on stdin and writes a JSON result to a private pipe, never to disk (the export's reader hands
back decrypted values); every line it prints is scrubbed of the URL and its password before it reaches the
caller's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from platform_kit.dburl import secrets_of
from platform_kit.interrupts import note_cleanup
from platform_kit.utils import scrub

DB_URL_VARIABLE = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"


def child_main(
    argv: list[str],
    handle: Callable[[dict[str, Any]], dict[str, Any]],
    on_error: Callable[[Exception], dict[str, Any]],
) -> int:
    """The child's side of the protocol: the request as JSON on stdin, the result as JSON on the pipe
    whose file descriptor is ``argv[1]``; exit code 0, or 1 with ``on_error``'s result when ``handle``
    raised."""
    request = json.load(sys.stdin)
    try:
        result, code = handle(request), 0
    except Exception as exc:
        result, code = on_error(exc), 1
    sys.stdout.flush()
    with os.fdopen(int(argv[1]), "w", encoding="utf-8") as out:
        json.dump(result, out)
    return code


class ChildLauncher:
    """Runs a child module's actions in child interpreters with the metadata-DB URL in their environment.

    :param url: SQLAlchemy URL of the metadata DB; ``None`` keeps whatever ``base_env`` configures
        (an operator's shell pointed at its Airflow).
    :param output: receives every line the child prints, scrubbed of the URL and password.
    :param module: the child module, run as ``python -m <module> RESULT_FD``.
    :param base_env: the environment to start from (default: this process's).
    :param what: names the child in the error when it dies without a result, e.g. ``"export reader"``.
    :param settings: environment variables set on top of ``base_env`` (e.g. the child's Airflow log level).
    """

    def __init__(
        self,
        url: str | None,
        output: Callable[[str], None],
        *,
        module: str = "platform_kit.dbclean.child",
        base_env: Mapping[str, str] | None = None,
        what: str = "cleanup process",
        settings: Mapping[str, str] | None = None,
    ):
        self._base_env = {**(os.environ if base_env is None else base_env), **(settings or {})}
        self._url = url
        self._secrets = secrets_of(url or self._base_env.get(DB_URL_VARIABLE, ""))
        self._output = output
        self._module = module
        self._what = what

    def redact(self, text: str) -> str:
        return scrub(text, self._secrets)

    def environment(self) -> dict[str, str]:
        env = dict(self._base_env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self._url is None:
            return env
        # The task's own settings hold the sentinel (or nothing usable); drop every way Airflow could
        # pick a URL up so the one we pass is the only one.
        for name in (
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN_CMD",
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN_SECRET",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
        ):
            env.pop(name, None)
        env[DB_URL_VARIABLE] = self._url
        return env

    def _scrub_errors(self, result: dict[str, Any]) -> dict[str, Any]:
        # Only error texts can carry the URL (exception messages). The rest is names and paths we
        # or core generated, which a short password (the sandbox's is "airflow") must not mangle.
        if result.get("error"):
            result["error"] = self.redact(result["error"])
        for entry in (result.get("tables") or {}).values():
            if entry.get("error"):
                entry["error"] = self.redact(entry["error"])
        return result

    def run(self, action: str, **request: Any) -> dict[str, Any]:
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", self._module, str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                text=True,
                pass_fds=(write_fd,),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        # A result can be megabytes (the export's rows): read it while the child still prints, or both
        # would block on a full pipe.
        chunks: list[bytes] = []
        reader = threading.Thread(target=_read_all, args=(read_fd, chunks), daemon=True)
        reader.start()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"action": action, **request}, default=str))
        proc.stdin.close()
        tail: list[str] = []
        try:
            for line in proc.stdout:
                line = self.redact(line.rstrip("\n"))
                self._output(line)
                tail = [*tail[-19:], line]
        except BaseException as exc:
            # SIGTERM/SIGINT (or a failing output): stop the child too; its open transaction is
            # rolled back by the server, so a half-done batch is never committed.
            proc.kill()
            proc.wait()
            note_cleanup(exc, "database work stopped, its open transaction rolled back")
            raise
        code = proc.wait()
        reader.join()
        raw = b"".join(chunks)
        if raw:
            result = self._scrub_errors(json.loads(raw))
        else:
            last = next((t for t in reversed(tail) if t.strip()), "no output")
            result = {"error": f"{self._what} exited with code {code}: {last}", "fatal": True}
        if code != 0 and not result.get("error"):
            result["error"] = f"{self._what} exited with code {code}"
            result["fatal"] = True
        return result


def _read_all(fd: int, chunks: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as pipe:
        chunks.append(pipe.read())

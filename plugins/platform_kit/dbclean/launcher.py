"""Parent side of the DB cleanup: runs :mod:`platform_kit.dbclean.child` in a child interpreter.

The child gets the metadata-DB URL in its environment only (never on a command line, which ``ps`` shows),
takes a JSON request on stdin and writes a JSON result to a file; every line it prints is scrubbed of the
URL and its password before it reaches the caller's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from platform_kit.dburl import secrets_of
from platform_kit.utils import scrub


class ChildLauncher:
    """Runs :mod:`~platform_kit.dbclean.child` actions in child interpreters with the metadata-DB URL in
    their environment."""

    def __init__(self, url: str, output: Callable[[str], None]):
        self._url = url
        self._secrets = secrets_of(url)
        self._output = output

    def redact(self, text: str) -> str:
        return scrub(text, self._secrets)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
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
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self._url
        env.setdefault("PYTHONUNBUFFERED", "1")
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
        with tempfile.TemporaryDirectory(prefix="platform-kit-dbclean-") as tmp:
            result_path = Path(tmp) / "result.json"
            proc = subprocess.Popen(
                [sys.executable, "-m", "platform_kit.dbclean.child", str(result_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                text=True,
            )
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps({"action": action, **request}, default=str))
            proc.stdin.close()
            tail: list[str] = []
            for line in proc.stdout:
                line = self.redact(line.rstrip("\n"))
                self._output(line)
                tail = [*tail[-19:], line]
            code = proc.wait()
            if result_path.exists():
                result = self._scrub_errors(json.loads(result_path.read_text()))
            else:
                last = next((t for t in reversed(tail) if t.strip()), "no output")
                result = {"error": f"cleanup process exited with code {code}: {last}", "fatal": True}
        if code != 0 and not result.get("error"):
            result["error"] = f"cleanup process exited with code {code}"
            result["fatal"] = True
        return result

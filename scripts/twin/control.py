"""Stop and start one component of a running twin, the way ``docker compose stop|start SERVICE`` does.

``scripts/sandbox stop scheduler``, ``scripts/sandbox start scheduler``, ``scripts/sandbox status``. The twin
serves these requests on a Unix socket (one JSON line each way) and records where that socket is in
``<AIRFLOW_HOME>/sandbox.json`` and in a per-user runtime folder, so a second terminal finds the twin
without arguments (``--home DIR`` picks one when several run). Components are named as in the twin
(``scheduler``) or as in compose (``airflow-scheduler``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATE_FILE = "sandbox.json"
ACTIONS = ("stop", "start", "restart", "status")


def runtime_dir() -> Path:
    """Where running twins register themselves (one ``<pid>.json`` each)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"platform-kit-sandbox-{os.getuid()}"


class ControlServer:
    """Answers control requests for a twin from a background thread.

    :param handle: ``(request) -> reply``, both JSON objects; it runs in the server thread.
    :param state: what ``sandbox.json`` records besides the socket (pid, home, addresses).
    """

    def __init__(self, home: Path, handle: Callable[[dict], dict], state: dict[str, Any]) -> None:
        self.home = home
        self.handle = handle
        # Unix socket paths are limited to ~100 bytes, so the socket lives in a short temporary folder.
        self._dir = Path(tempfile.mkdtemp(prefix="pk-twin-"))
        self.socket_path = self._dir / "control.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.socket_path))
        self._sock.listen(8)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="twin-control", daemon=True)
        self.state = {**state, "pid": os.getpid(), "home": str(home), "socket": str(self.socket_path)}
        self._registration = runtime_dir() / f"{os.getpid()}.json"

    def start(self) -> ControlServer:
        self._thread.start()
        (self.home / STATE_FILE).write_text(json.dumps(self.state, indent=2))
        self._registration.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._registration.write_text(json.dumps(self.state))
        return self

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as stream:
                try:
                    reply = self.handle(json.loads(stream.readline() or b"{}"))
                except Exception as exc:  # a bad request must not kill the control thread
                    reply = {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
                with contextlib.suppress(OSError):
                    stream.write(json.dumps(reply).encode() + b"\n")
                    stream.flush()

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        self._registration.unlink(missing_ok=True)
        (self.home / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(self._dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_twin(home: Path | None = None) -> dict[str, Any]:
    """The state of the running twin (``home`` given, or the only one registered)."""
    if home is not None:
        path = home / STATE_FILE
        if not path.is_file():
            raise SystemExit(f"scripts/sandbox: no running twin in {home} (no {STATE_FILE})")
        return json.loads(path.read_text())
    running = []
    for path in sorted(runtime_dir().glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(path.read_text())
            if _alive(int(state["pid"])):
                running.append(state)
                continue
            path.unlink(missing_ok=True)  # left behind by a twin that was killed
    if not running:
        raise SystemExit("scripts/sandbox: no twin is running; start one with scripts/sandbox")
    if len(running) > 1:
        homes = ", ".join(state["home"] for state in running)
        raise SystemExit(f"scripts/sandbox: {len(running)} twins are running ({homes}); pick one with --home")
    return running[0]


def request(state: dict[str, Any], payload: dict[str, Any], timeout: float = 180) -> dict[str, Any]:
    """Send one request to a twin and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(state["socket"])
        except OSError as exc:
            pid = state["pid"]
            raise SystemExit(f"scripts/sandbox: the twin (pid {pid}) does not answer: {exc}") from None
        with sock.makefile("rwb") as stream:
            stream.write(json.dumps(payload).encode() + b"\n")
            stream.flush()
            return json.loads(stream.readline() or b"{}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/sandbox",
        description="Stop, start or list the components of a running twin (like docker compose stop|start).",
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("component", nargs="?", help="e.g. scheduler (or airflow-scheduler); not for status")
    parser.add_argument("--home", type=Path, help="the AIRFLOW_HOME of the twin, when several run")
    args = parser.parse_args(argv)
    if args.action != "status" and not args.component:
        parser.error(f"{args.action} needs a component, e.g. scripts/sandbox {args.action} scheduler")
    reply = request(find_twin(args.home), {"action": args.action, "component": args.component})
    if args.action == "status" and reply.get("ok"):
        for row in reply["components"]:
            print(f"{row['name']:<16} {row['state']:<8} {row.get('pid') or '':>7}  {row.get('url') or ''}")
    else:
        print(reply.get("message", reply), file=sys.stdout if reply.get("ok") else sys.stderr)
    return 0 if reply.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

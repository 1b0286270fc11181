"""`scripts/sandbox`: one command brings the twin up, Ctrl-C takes all of it down."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from twin.client import REQUEST_TIMEOUT

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sandbox_starts_prints_its_addresses_and_stops_cleanly_on_ctrl_c():
    proc = subprocess.Popen(
        [str(REPO / "scripts" / "sandbox"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "Press Ctrl-C" in output, output[-3000:]
        ui = re.search(r"UI and API\s+(http://127\.0\.0\.1:(\d+))\s+login (\S+) / (\S+)", output)
        assert ui, output
        home = Path(re.search(r"AIRFLOW_HOME\s+(\S+)", output).group(1))
        ports = [int(p) for p in re.findall(r"(?:http://|@)127\.0\.0\.1:(\d+)", output)]
        assert len(ports) >= 5  # UI, receiver, S3, GCS, PostgreSQL
        assert requests.get(ui.group(1), timeout=REQUEST_TIMEOUT).status_code == 200
        health = requests.get(f"{ui.group(1)}/api/v2/monitor/health", timeout=REQUEST_TIMEOUT).json()
        assert {health[c]["status"] for c in ("scheduler", "dag_processor", "triggerer")} == {"healthy"}
        token = requests.post(
            f"{ui.group(1)}/auth/token", json={"username": ui.group(3), "password": ui.group(4)}, timeout=30
        )
        assert token.status_code == 201
        children = _descendants(proc.pid)
        assert len(children) >= 7  # uv, python, 4 Airflow components, moto, gcs, receiver, ...

        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        rest = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, rest[-3000:]
    assert "nothing left running" in rest
    time.sleep(1)
    assert [pid for pid in children if _alive(pid)] == []
    assert [port for port in ports if _port_open(port)] == []
    assert not home.exists()

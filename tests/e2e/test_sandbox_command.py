"""`scripts/sandbox` is the sandbox the README describes: one command brings it up on loopback, its printed
environment drives the CLI from a plain shell, SIGTERM to its printed PID takes all of it down.

One twin of its own (``--port 0``: free ports, so it never collides with the session twin or a user's).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from plain_shell import plain_shell

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


def _listeners(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket the processes listen on, from /proc (IPv4 and IPv6)."""
    inodes: set[str] = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A = LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            if len(raw) == 4:
                host = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                host = socket.inet_ntop(
                    socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                )
            found.append((host, int(port, 16)))
    return found


def _exports(output: str) -> dict[str, str]:
    """The ``export KEY=value`` lines the twin prints, as a shell would read them."""
    env = {}
    for line in output.splitlines():
        if line.strip().startswith("export "):
            key, _, value = shlex.split(line.strip())[1].partition("=")
            env[key] = value
    return env


def test_sandbox_is_the_readme_sandbox_on_loopback_and_stops_on_sigterm(tmp_path):
    home = tmp_path / "twin-home"
    proc = subprocess.Popen(
        [str(REPO / "scripts" / "sandbox"), "--port", "0", "--home", str(home)],
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
        pid = int(re.search(r"is up after \d+s, PID (\d+)", output).group(1))
        assert pid == proc.pid  # the PID a user would signal is the twin itself, not a wrapper
        fernet_key = re.search(r"Fernet key\s+(\S+)", output).group(1)
        ports = [int(p) for p in re.findall(r"(?:http://|@)127\.0\.0\.1:(\d+)", output)]
        assert len(ports) >= 5  # UI, receiver, S3, GCS, PostgreSQL
        assert requests.get(ui.group(1), timeout=REQUEST_TIMEOUT).status_code == 200
        health = requests.get(f"{ui.group(1)}/api/v2/monitor/health", timeout=REQUEST_TIMEOUT).json()
        assert {health[c]["status"] for c in ("scheduler", "dag_processor", "triggerer")} == {"healthy"}

        # Every listener of the whole process tree is on loopback (the api-server, the log server, the
        # scheduler's health port, the emulators, the receiver), and there is no other.
        children = _descendants(proc.pid)
        listeners = _listeners(children | {proc.pid})
        assert len(listeners) >= 6, listeners
        assert {host for host, _ in listeners} == {"127.0.0.1"}, listeners

        status = subprocess.run(
            [str(REPO / "scripts" / "sandbox"), "status", "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert re.search(r"^health-monitor\s+running", status.stdout, re.M), status.stdout + status.stderr

        # The printed environment is all a plain shell needs to back the twin up and restore the backup
        # into the scratch database (its role may create databases).
        shell = plain_shell(tmp_path / "shell")
        env = _exports(output)
        assert {
            "AIRFLOW_CONN_AIRFLOW_METADB",
            "AIRFLOW_CONN_AWS_DEFAULT",
            "AIRFLOW_CONN_PLATFORM_KIT_SCRATCH",
        } <= set(env)
        created = shell.run("backup", "create", "--to", "s3://platform-kit-backups/metadb", env=env)
        assert created.returncode == 0, created.stderr[-3000:]
        restored = shell.run(
            "backup",
            "restore",
            "s3://platform-kit-backups/metadb",
            "--target-conn-id",
            "platform_kit_scratch",
            "--json",
            env=env,
        )
        assert restored.returncode == 0, restored.stderr[-3000:]
        summary = json.loads(restored.stdout)
        assert summary["mismatches"] == {} and summary["tables"] > 20
        shell.assert_no_side_effects()

        os.kill(pid, signal.SIGTERM)  # not the process group: the printed PID alone stops everything
        rest = proc.communicate(timeout=180)[0]
    finally:
        if proc.poll() is None:  # a failed assertion: let the twin stop its components, then insist
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, rest[-3000:]
    assert "nothing left running" in rest
    time.sleep(1)
    assert [p for p in children if _alive(p)] == []
    assert [port for port in ports if _port_open(port)] == []
    # --home keeps the key (a backup made here can be restored elsewhere), and nothing claims to run.
    assert (home / "fernet.key").read_text().strip() == fernet_key
    assert not (home / "sandbox.json").exists()

"""How the CLI runs Airflow in a shell (platform_kit.shell): which home, and what it knows about the key.

Each case runs in a child interpreter with a chosen environment, because importing Airflow reads it once.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PROBE = """
import json
from platform_kit.shell import has_airflow_config, prepare_shell
home = prepare_shell()
import airflow  # what creates $AIRFLOW_HOME/logs
from airflow.configuration import AIRFLOW_HOME
from platform_kit.backup.engine import fernet_facts
print(json.dumps({"throwaway": str(home) if home else None, "airflow_home": AIRFLOW_HOME,
                  "configured": has_airflow_config(), "fernet": fernet_facts()}))
"""


def _probe(tmp_path: Path, **env: str) -> dict:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp), **env},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_shell_without_airflow_gets_a_throwaway_home_that_is_removed(tmp_path):
    seen = _probe(tmp_path)
    assert seen["throwaway"] and seen["airflow_home"] == seen["throwaway"]
    assert Path(seen["throwaway"]).parent == tmp_path / "tmp"
    assert not Path(seen["throwaway"]).exists()  # removed at exit
    assert list((tmp_path / "home").iterdir()) == []  # no ~/airflow
    # Airflow's defaults say nothing about the real deployment's key: unknown, not "empty".
    assert seen["configured"] is False
    assert seen["fernet"]["status"] == "unknown" and "warning" not in seen["fernet"]


def test_a_key_in_the_environment_is_fingerprinted_without_a_home(tmp_path):
    key = "9ab1g2fZGE1_vTpsfuuF5fHsCrVYkajoKAxlLsHt8RA="
    seen = _probe(tmp_path, AIRFLOW__CORE__FERNET_KEY=key)
    assert seen["throwaway"] and seen["configured"] is True
    assert seen["fernet"] == {"status": "present", "fingerprints": [hashlib.sha256(key.encode()).hexdigest()]}


def test_an_existing_airflow_home_is_used_and_its_empty_key_is_reported(tmp_path):
    airflow_home = tmp_path / "home" / "airflow"
    airflow_home.mkdir(parents=True)
    (airflow_home / "airflow.cfg").write_text("[core]\nfernet_key =\n")
    seen = _probe(tmp_path)
    assert seen["throwaway"] is None and seen["airflow_home"] == str(airflow_home)
    assert seen["configured"] is True
    assert seen["fernet"]["status"] == "empty" and "UNENCRYPTED" in seen["fernet"]["warning"]


def test_a_long_running_command_stopped_with_sigterm_ends_in_one_line_and_leaves_nothing(tmp_path):
    """``health watch`` runs until stopped; SIGTERM (systemd, Kubernetes) goes through the one signal
    handler (platform_kit.interrupts): a normal exit, so the throwaway Airflow home is removed too."""
    import signal

    from plain_shell import plain_shell
    from waiting import wait_for

    from twin.pgcluster import free_port

    closed_port = free_port()  # nothing listens there: the watch just keeps polling
    shell = plain_shell(tmp_path)
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        watch = subprocess.Popen(
            [
                *(str(shell.bin_dir / "platform-kit"), "health", "watch", "--backup-url", "off"),
                *("--api-url", f"http://127.0.0.1:{closed_port}", "--interval", "0.5"),
            ],
            env=shell.environment(),
            cwd=shell.home,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            wait_for(lambda: "platform-kit health watch:" in stderr_path.read_text(), 120, "the watch", 0.5)
            watch.send_signal(signal.SIGTERM)
            out, _ = watch.communicate(timeout=60)
        finally:
            watch.kill()
    err = stderr_path.read_text()
    assert watch.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1] == "platform-kit: interrupted by SIGTERM" and "Traceback" not in err
    assert out == ""  # what it watches is a progress line, not a result: stderr
    shell.assert_no_side_effects()

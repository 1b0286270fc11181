"""Run ``platform-kit`` from a plain shell in tests: only the variables a user's terminal would have.

Not a test module; ``tests/`` is on ``sys.path`` through its ``conftest.py``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PlainShell:
    """Runs ``platform-kit`` the way a user's terminal does: only the variables given, no Airflow home."""

    bin_dir: Path
    home: Path
    tmp: Path

    def environment(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """The terminal's variables plus ``env`` (e.g. to start a long-running command yourself)."""
        base = {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "LANG": "C.UTF-8",
        }
        return {**base, **(env or {})}

    def run(self, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin_dir / "platform-kit"), *argv],
            env=self.environment(env),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def assert_no_side_effects(self) -> None:
        """No ``~/airflow``, nothing else in HOME, and the throwaway Airflow home is gone from TMPDIR."""
        assert sorted(p.name for p in self.home.iterdir()) == []
        assert sorted(p.name for p in self.tmp.iterdir()) == []


def plain_shell(tmp_path: Path, bin_dir: Path | None = None) -> PlainShell:
    """A shell with an empty ``HOME`` and ``TMPDIR`` under ``tmp_path``; ``bin_dir`` holds ``platform-kit``
    (default: this interpreter's venv)."""
    bin_dir = bin_dir or Path(sys.executable).parent
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(parents=True)
    tmp.mkdir()
    return PlainShell(bin_dir, home, tmp)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single ``platform-kit: error:`` line of a failed command (and that it is alone, exit code 2)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("platform-kit: error: "), result.stderr[-3000:]
    return lines[0]

"""`pip install` of the built wheel next to Airflow: plugin registered, DAGs parse from the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
UV = REPO / ".tools" / "bin" / "uv"


def _run(*argv, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory) -> Path:
    """A clean venv with the locked Airflow stack, then the wheel installed from its metadata."""
    work = tmp_path_factory.mktemp("wheel")
    _run(str(UV), "build", "--wheel", "--out-dir", str(work / "dist"), cwd=REPO)
    wheel = next((work / "dist").glob("airflow_platform_kit-*.whl"))
    requirements = work / "requirements.txt"
    exported = _run(
        str(UV),
        "export",
        "--frozen",
        "--no-hashes",
        "--all-extras",
        "--no-emit-project",
        "--no-dev",
        cwd=REPO,
    ).stdout
    # The runtime dependencies at exactly the locked versions: Airflow 3.3.2 as the suite runs it.
    requirements.write_text(exported)
    venv = work / "venv"
    _run(str(UV), "venv", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    _run(str(UV), "pip", "install", "--python", str(python), "-r", str(requirements), f"{wheel}[all]")
    return venv


def _airflow_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }


def test_the_wheel_registers_the_plugin(installed_venv, tmp_path):
    out = _run(
        str(installed_venv / "bin" / "airflow"), "plugins", "--output", "json", env=_airflow_env(tmp_path)
    ).stdout
    plugins = {p["name"]: p for p in json.loads(out[out.index("[") :])}
    assert "platform_kit" in plugins
    assert "airflow-platform-kit" in str(plugins["platform_kit"]["source"])


def test_the_bundle_serves_the_dags_from_the_installed_wheel(installed_venv, tmp_path):
    code = (
        "import json\n"
        "from platform_kit.bundle import PlatformDagBundle\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bundle = PlatformDagBundle(name='platform-kit')\n"
        "bag = DagBag(dag_folder=str(bundle.path), safe_mode=True)\n"
        "print(json.dumps({'path': str(bundle.path), 'dags': sorted(bag.dags),"
        " 'errors': {k: str(v) for k, v in bag.import_errors.items()}}))\n"
    )
    out = _run(str(installed_venv / "bin" / "python"), "-c", code, env=_airflow_env(tmp_path), cwd=tmp_path)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "site-packages" in result["path"]
    assert result["errors"] == {}
    source_dags = {p.stem for p in (REPO / "dags").rglob("*.py")}
    assert len(result["dags"]) >= len(source_dags) > 0
    assert any(d.startswith("platform_kit_") for d in result["dags"])


def test_the_console_script_is_installed(installed_venv):
    out = _run(str(installed_venv / "bin" / "platform-kit"), "--help").stdout
    assert "platform-kit" in out

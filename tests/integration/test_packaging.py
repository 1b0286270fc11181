"""Installing without a package index, as the README says: ``pip install ".[amazon]"`` from a checkout, or a
wheel built with ``pip wheel`` and installed with its extra. Then: the plugin is registered, the console
script runs, and the DAG bundle serves the maintenance DAGs from site-packages (the examples only when
asked for). And installing the kit never moves the Airflow version already there.

The README's own command lines are run, with ``pip`` from a fresh environment holding the running
environment's locked Airflow stack (the lock's, or a matrix minor's; installed by ``uv`` first, so ``pip``
only has to build and install the kit).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from twin.matrix import current_env, matrix_envs

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
UV = REPO / ".tools" / "bin" / "uv"
MAINTENANCE = {
    "platform_kit_log_cleanup",
    "platform_kit_metadb_backup",
    "platform_kit_export",
    "platform_kit_metadb_cleanup",
}
AIRFLOW_ITSELF = ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk")


def _run(*argv, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def readme_install_lines() -> list[str]:
    """The command lines of the README's install block (comments dropped), in order."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- install-from-a-checkout:.*?-->\n```sh\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md lost its install-from-a-checkout block"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of the checkout as a user has it: tracked and new files, nothing git ignores (no .venv)."""
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).stdout
    target = tmp_path_factory.mktemp("checkout") / "airflow-platform-kit"
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _runtime_requirements(project: Path, path: Path) -> Path:
    """The runtime stack of ``project``'s lock at exactly the locked versions, without the kit itself."""
    exported = _run(
        str(UV),
        "export",
        "--frozen",
        "--no-hashes",
        "--all-extras",
        "--no-dev",
        "--no-emit-project",
        "--no-emit-package",
        "airflow-platform-kit",
        cwd=project,
    ).stdout
    path.write_text(exported)
    return path


def _venv(path: Path) -> Path:
    """A fresh venv with pip in it (``pip install`` is how the README installs the kit); its python."""
    _run(str(UV), "venv", "--seed", "--python", sys.executable, str(path))
    return path / "bin" / "python"


def _versions(python: Path) -> dict[str, str]:
    out = _run(str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check").stdout
    return {entry["name"].lower(): entry["version"] for entry in json.loads(out)}


@pytest.fixture(scope="module")
def airflow_venv(tmp_path_factory) -> Path:
    """A venv with pip and this environment's locked runtime stack (Airflow and the providers), no kit."""
    work = tmp_path_factory.mktemp("venv")
    requirements = _runtime_requirements(current_env().project, work / "requirements.txt")
    python = _venv(work / "venv")
    _run(str(UV), "pip", "install", "--python", str(python), "-r", str(requirements))
    return python.parent.parent


def _shell(venv: Path, command: str, cwd: Path) -> None:
    """One README line in bash, with the venv's pip first on PATH (as after ``source bin/activate``)."""
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    _run("bash", "-euo", "pipefail", "-c", command, cwd=cwd, env=env)


def _airflow_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }


def _installed_kit(venv: Path, home: Path) -> dict:
    """What an Airflow with the installed kit sees: plugin, console script, bundle with each ``include``."""
    env = _airflow_env(home)
    plugins_out = _run(str(venv / "bin" / "airflow"), "plugins", "--output", "json", env=env).stdout
    plugins = {p["name"]: p for p in json.loads(plugins_out[plugins_out.index("[") :])}
    code = (
        "import json\n"
        "from platform_kit.bundle import PlatformDagBundle\n"
        "from platform_kit.version_compat import dag_bag_class\n"
        "result = {}\n"
        "for kwargs in ({}, {'include': 'all'}):\n"
        "    bundle = PlatformDagBundle(name='platform-kit', **kwargs)\n"
        "    bag = dag_bag_class()(dag_folder=str(bundle.path), safe_mode=True)\n"
        "    errors = {k: str(v) for k, v in bag.import_errors.items()}\n"
        "    result[kwargs.get('include', 'default')] = {\n"
        "        'path': str(bundle.path), 'dags': sorted(bag.dags), 'errors': errors}\n"
        "print(json.dumps(result))\n"
    )
    bundles = _run(str(venv / "bin" / "python"), "-c", code, env=env, cwd=home).stdout
    return {
        "plugin_source": str(plugins.get("platform_kit", {}).get("source")),
        "help": _run(str(venv / "bin" / "platform-kit"), "--help").stdout,
        "bundles": json.loads(bundles.strip().splitlines()[-1]),
    }


def _assert_installed(kit: dict) -> None:
    assert "airflow-platform-kit" in kit["plugin_source"]
    assert "platform-kit" in kit["help"] and "backup" in kit["help"]
    default, everything = kit["bundles"]["default"], kit["bundles"]["all"]
    assert "site-packages" in default["path"]
    assert default["errors"] == {} and everything["errors"] == {}
    assert set(default["dags"]) == MAINTENANCE  # examples stay out of production unless asked for
    examples = {p.stem for p in (REPO / "dags" / "examples").glob("*.py")}
    assert len(set(everything["dags"]) - MAINTENANCE) >= len(examples) > 0


def _installed_from(venv: Path) -> str:
    """Where pip installed the kit from (PEP 610 ``direct_url.json``)."""
    code = (
        "import json, importlib.metadata as m\n"
        "print(json.loads(m.distribution('airflow-platform-kit').read_text('direct_url.json'))['url'])"
    )
    return _run(str(venv / "bin" / "python"), "-c", code).stdout.strip()


def test_the_readme_install_lines_work_from_a_checkout_and_from_a_wheel(airflow_venv, checkout, tmp_path):
    from_checkout, *from_wheel = readme_install_lines()
    assert from_checkout.startswith("pip install ") and "[amazon]" in from_checkout
    assert len(from_wheel) == 2 and "[amazon]" in from_wheel[1]

    _shell(airflow_venv, from_checkout, checkout)
    assert _installed_from(airflow_venv) == checkout.as_uri()
    _assert_installed(_installed_kit(airflow_venv, tmp_path / "home-checkout"))

    _shell(airflow_venv, "pip uninstall --yes airflow-platform-kit", checkout)
    for line in from_wheel:
        _shell(airflow_venv, line, checkout)
    wheels = list((checkout / "dist").glob("airflow_platform_kit-*-py3-none-any.whl"))
    assert len(wheels) == 1
    assert _installed_from(airflow_venv) == wheels[0].as_uri()
    _assert_installed(_installed_kit(airflow_venv, tmp_path / "home-wheel"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel ``uv build`` makes of this checkout."""
    dist = tmp_path_factory.mktemp("dist")
    _run(str(UV), "build", "--wheel", "--out-dir", str(dist), cwd=REPO)
    return next(dist.glob("airflow_platform_kit-*.whl"))


def _exclude_newer(project: Path) -> str:
    """The ``exclude-newer`` date of a matrix project: its Airflow's release day."""
    return tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]["exclude-newer"]


@pytest.mark.skipif(not current_env().is_lock, reason="runs once, from the lock's suite")
@pytest.mark.parametrize("start", ["bare airflow", "airflow and its providers"])
def test_installing_the_kit_never_moves_the_airflow_already_installed(wheel, tmp_path, start):
    """``pip install "airflow-platform-kit[all]"`` next to the oldest supported Airflow (3.1.8).

    ``bare airflow``: only ``apache-airflow==3.1.8`` (as of its release day), so pip must add the storage
    providers without touching Airflow. ``airflow and its providers``: the stack 3.1.8 shipped with (the
    matrix lock: providers at the kit's floors), where nothing at all may move.
    """
    oldest = matrix_envs()[0]
    python = _venv(tmp_path / "venv")
    if start == "bare airflow":
        _run(
            str(UV),
            "pip",
            "install",
            "--python",
            str(python),
            "--exclude-newer",
            _exclude_newer(oldest.project),
            f"apache-airflow=={oldest.airflow}",
        )
    else:
        requirements = _runtime_requirements(oldest.project, tmp_path / "requirements.txt")
        _run(str(UV), "pip", "install", "--python", str(python), "-r", str(requirements))
    before = _versions(python)
    assert before["apache-airflow"] == oldest.airflow

    if start == "bare airflow":
        # pip needs well over 15 minutes on the 2-core test machine to resolve and fetch the Google
        # provider's tree here; uv resolves the same requirements with the same rule (installed versions
        # stay unless a requirement forbids them) in seconds.
        _run(str(UV), "pip", "install", "--python", str(python), f"{wheel}[all]")
    else:
        _run(str(python), "-m", "pip", "install", "--disable-pip-version-check", f"{wheel}[all]")

    after = _versions(python)
    assert {d: after[d] for d in AIRFLOW_ITSELF} == {d: before[d] for d in AIRFLOW_ITSELF}
    assert after["airflow-platform-kit"] and after["apache-airflow-providers-amazon"]
    if start != "bare airflow":
        moved = {d: (v, after.get(d)) for d, v in before.items() if after.get(d) != v}
        assert moved == {}

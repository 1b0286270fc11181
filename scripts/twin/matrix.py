"""The version matrix: every supported Airflow minor, each in its own locked environment, and the test plan.

The lock (``uv.lock``, ``.venv``) holds the newest supported minor. Every older one has a small uv project
under ``matrix/<name>/`` (``pyproject.toml`` + ``uv.lock``) that pins that Airflow patch, resolves the rest
as of its release day and installs this checkout editable; ``scripts/bootstrap`` installs each into its
``.venv``. Those folders *are* the list of versions: adding a minor is adding a folder (``matrix/README.md``).

``scripts/test`` runs :func:`main`: the full suite on the lock, then on every older minor the unit tier,
the integration tests marked ``matrix`` (those that exercise what differs between minors) and the e2e
smoke tests (``-m smoke``), and prints the wall and CPU time of each part at the end (why this selection:
``matrix/README.md``).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MATRIX_DIR = REPO_ROOT / "matrix"
RESULTS_DIR = REPO_ROOT / "artifacts" / "test-results"

#: What every older minor runs, as (part name, pytest -m expression); the lock runs the whole suite. The
#: integration tier is cut to its ``matrix`` tests so two older minors fit scripts/test's 45-minute budget.
MATRIX_TIERS = (
    ("unit", "unit"),
    ("integration (matrix)", "integration and matrix"),
    ("smoke", "smoke"),
)


@dataclass(frozen=True)
class AirflowEnv:
    """One supported Airflow minor and the environment that holds it.

    :param name: ``lock`` for the main environment, else the folder name under ``matrix/``.
    :param project: the folder with its ``pyproject.toml`` and ``uv.lock``.
    :param airflow: the pinned ``apache-airflow`` version, e.g. ``3.1.8``.
    """

    name: str
    project: Path
    airflow: str

    @property
    def python(self) -> Path:
        return self.project / ".venv" / "bin" / "python"

    @property
    def installed(self) -> bool:
        return self.python.exists()

    @property
    def minor(self) -> str:
        return ".".join(self.airflow.split(".")[:2])

    @property
    def is_lock(self) -> bool:
        return self.project == REPO_ROOT


def _pinned_airflow(pyproject: Path) -> str:
    data = tomllib.loads(pyproject.read_text())
    requirements = list(data.get("project", {}).get("dependencies", []))
    requirements += [r for r in data.get("dependency-groups", {}).get("dev", []) if isinstance(r, str)]
    for requirement in requirements:
        name, _, pinned = requirement.replace(" ", "").partition("==")
        if name == "apache-airflow" and pinned:
            return pinned
    raise ValueError(f"{pyproject} pins no apache-airflow==X.Y.Z")


def _version_key(env: AirflowEnv) -> tuple[int, ...]:
    return tuple(int(part) for part in env.airflow.split(".") if part.isdigit())


def lock_env() -> AirflowEnv:
    """The main environment (``uv.lock``): the newest supported minor, pinned in the dev group."""
    return AirflowEnv("lock", REPO_ROOT, _pinned_airflow(REPO_ROOT / "pyproject.toml"))


def matrix_envs() -> list[AirflowEnv]:
    """Every older supported minor (``matrix/*/``), oldest first."""
    envs = [
        AirflowEnv(project.parent.name, project.parent, _pinned_airflow(project))
        for project in MATRIX_DIR.glob("*/pyproject.toml")
    ]
    return sorted(envs, key=_version_key)


def all_envs() -> list[AirflowEnv]:
    """Every supported minor, oldest first; the lock last."""
    return [*matrix_envs(), lock_env()]


def find_env(wanted: str) -> AirflowEnv:
    """The environment for ``wanted``: a version (``3.2.2``), a minor (``3.2``) or a folder name.

    :raises ValueError: one line listing what is available.
    """
    for env in all_envs():
        if wanted in (env.airflow, env.minor, env.name, f"airflow-{env.minor}"):
            return env
    choices = ", ".join(env.airflow for env in all_envs())
    raise ValueError(f"no environment for Airflow {wanted!r}; supported: {choices} (see matrix/README.md)")


def current_env() -> AirflowEnv:
    """The environment of the running interpreter (the lock's when it is none of the matrix's)."""
    prefix = Path(sys.prefix).resolve()
    for env in matrix_envs():
        if (env.project / ".venv").resolve() == prefix:
            return env
    return lock_env()


#: pytest's exit code when interrupted (Ctrl-C reaching pytest alone, e.g. ``kill -INT``), and a child
#: killed by SIGINT or SIGTERM: the person wants the whole run to stop, not the next minor to start.
STOPPED_BY_USER = {2, -signal.SIGINT, -signal.SIGTERM}


# --- The test plan -----------------------------------------------------------------------------------------


@dataclass
class Part:
    """One pytest run of the plan."""

    title: str
    env: AirflowEnv
    args: list[str]
    slug: str
    returncode: int | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    load: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def junit(self) -> Path:
        return RESULTS_DIR / f"{self.slug}.xml"


def plan(args: argparse.Namespace, pytest_args: list[str]) -> list[Part]:
    """The parts to run for the command line (see ``scripts/test --help``)."""
    lock = lock_env()
    if args.airflow:
        envs = [find_env(args.airflow)]
    elif args.matrix:
        envs = matrix_envs()
    elif pytest_args or args.no_matrix:
        envs = [lock]
    else:
        envs = [lock, *matrix_envs()]
    parts = []
    for env in envs:
        label = f"Airflow {env.airflow}" + (" (lock)" if env.is_lock else "")
        if pytest_args:
            title = f"{label}: pytest {' '.join(pytest_args)}"
            parts.append(Part(title, env, pytest_args, f"{env.name}-args"))
        elif env.is_lock:
            parts.append(Part(f"{label}: full suite", env, [], env.name))
        else:
            for tier, expression in MATRIX_TIERS:
                slug = f"{env.name}-{tier.split()[0]}"
                parts.append(Part(f"{label}: {tier}", env, ["-m", expression], slug))
    return parts


def _counts(junit: Path) -> dict[str, int]:
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return {}
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
    failed = totals["failures"] + totals["errors"]
    passed = totals["tests"] - failed - totals["skipped"]
    return {"passed": passed, "failed": failed, "skipped": totals["skipped"]}


def run_part(part: Part) -> None:
    """Run one part with its environment's interpreter from the repository root."""
    if not part.env.installed:
        raise SystemExit(f"scripts/test: {part.env.python} is missing; run scripts/bootstrap")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    part.junit.unlink(missing_ok=True)
    env = dict(os.environ)
    if not part.env.is_lock:  # twin logs of each older minor in artifacts/<env>/, the lock's where they were
        env["PLATFORM_KIT_ARTIFACTS"] = str(REPO_ROOT / "artifacts" / part.env.name)
    argv = [str(part.env.python), "-m", "pytest", f"--junitxml={part.junit}", *part.args]
    print(f"\n=== {part.title} ===\n$ {' '.join(argv)}", flush=True)
    part.load = os.getloadavg()[0]
    cpu_before = _children_cpu()
    started = time.monotonic()
    part.returncode = subprocess.call(argv, cwd=REPO_ROOT, env=env)
    part.seconds = time.monotonic() - started
    part.cpu_seconds = _children_cpu() - cpu_before
    part.counts = _counts(part.junit)


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process (pytest, and what it waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def summary(parts: list[Part], seconds: float) -> str:
    """The closing table: result, wall time, CPU time (processes the part waited for; servers it
    killed are not counted), the 1-minute load when it started and the tests of every part, then one
    ``total:`` line."""
    width = max(len(p.title) for p in parts)
    lines = ["", "=== scripts/test: time per part (wall, CPU, load at start) ==="]
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for part in parts:
        result = "not run" if part.returncode is None else ("ok" if part.returncode == 0 else "FAILED")
        counts = ", ".join(f"{part.counts.get(k, 0)} {k}" for k in totals)
        load = "-" if part.load is None else f"{part.load:.1f}"
        timing = f"{_minutes(part.seconds):>7}  cpu {_minutes(part.cpu_seconds):>7}  load {load:>4}"
        lines.append(f"  {part.title:<{width}}  {result:<7}  {timing}  {counts}")
        for key in totals:
            totals[key] += part.counts.get(key, 0)
    lines.append(f"  {'all parts':<{width}}  {'':<7}  {_minutes(seconds):>7}")
    lines.append(f"total: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/test",
        allow_abbrev=False,  # every other option is pytest's
        description=(
            "Run the test suite. Without arguments: the full suite on the lock (Airflow "
            f"{lock_env().airflow}), then the unit and integration tiers and the e2e smoke tests on every "
            "older supported Airflow minor (matrix/). Other arguments go to pytest and run on the lock only."
        ),
        epilog="Examples: scripts/test -m unit | scripts/test --matrix | scripts/test --airflow 3.1 -m unit",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-matrix", action="store_true", help="only the lock's full suite")
    which.add_argument("--matrix", action="store_true", help="only the older minors (matrix/)")
    which.add_argument("--airflow", metavar="VERSION", help="only this Airflow version or minor, e.g. 3.1")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, pytest_args = parser().parse_known_args(argv)
    try:
        parts = plan(args, pytest_args)
    except ValueError as exc:
        print(f"scripts/test: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        for part in parts:
            run_part(part)
            if part.returncode in STOPPED_BY_USER:
                print(f"scripts/test: {part.title} was interrupted; not running the rest", flush=True)
                break
    finally:
        print(summary(parts, time.monotonic() - started), flush=True)
    codes = [p.returncode for p in parts]
    return 0 if codes and all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    sys.exit(main())

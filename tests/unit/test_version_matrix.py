"""What ``scripts/test`` runs on each Airflow minor (``scripts/twin/matrix.py``; ``matrix/README.md``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import twin.matrix
from twin.matrix import lock_env, matrix_envs, parser, plan

pytestmark = pytest.mark.unit

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"

#: Integration modules with no ``matrix`` test, and why no older minor needs them.
NOT_VERSION_DEPENDENT = {
    "test_dead_mans_switch.py": "reads the bucket's manifests and posts; it imports nothing of Airflow",
    "test_cli_front_door.py": "libpq's password sources reaching pg_dump; the CLI's Airflow lookup from "
    "a plain shell runs on every minor in test_dbclean.py and test_alerts_delivery.py",
    "test_packaging.py": "builds the wheel and installs it next to 3.1.8 itself; runs once, from the lock",
}


def _plan(*argv: str):
    args, pytest_args = parser().parse_known_args(list(argv))
    return plan(args, pytest_args)


def test_every_supported_minor_is_in_the_plan_and_the_lock_runs_everything_first():
    parts = _plan()
    assert parts[0].env == lock_env() and parts[0].args == []
    older = {part.env.airflow for part in parts[1:]}
    assert older == {env.airflow for env in matrix_envs()}
    assert {env.minor for env in matrix_envs()} >= {"3.1", "3.2"}


def test_older_minors_run_unit_the_matrix_integration_tests_and_smoke():
    for env in matrix_envs():
        args = [part.args for part in _plan("--airflow", env.minor)]
        assert args == [["-m", "unit"], ["-m", "integration and matrix"], ["-m", "smoke"]]


def test_pytest_arguments_run_on_the_lock_only_unless_a_minor_is_named():
    assert [part.env for part in _plan("-m", "unit")] == [lock_env()]
    oldest = matrix_envs()[0]
    parts = _plan("--airflow", oldest.airflow, "-k", "dbclean")
    assert [(part.env, part.args) for part in parts] == [(oldest, ["-k", "dbclean"])]


@pytest.mark.parametrize(("first_code", "parts_run"), [(1, "all"), (2, 1), (-2, 1)])
def test_a_failing_part_lets_the_rest_run_but_an_interrupted_one_stops_the_run(
    monkeypatch, capsys, first_code, parts_run
):
    """A failure on the lock still shows how the older minors fare; Ctrl-C (pytest's exit code 2, or a
    pytest killed by SIGINT) means stop, not "start the next minor"."""
    ran = []

    def fake_run_part(part):
        part.returncode = first_code if not ran else 0
        ran.append(part)

    monkeypatch.setattr(twin.matrix, "run_part", fake_run_part)
    assert twin.matrix.main([]) == 1
    assert len(ran) == (len(_plan()) if parts_run == "all" else parts_run)
    assert ("interrupted; not running the rest" in capsys.readouterr().out) == (parts_run != "all")


@pytest.mark.parametrize(
    "module", sorted(p.name for p in INTEGRATION.glob("test_*.py")), ids=lambda name: name[:-3]
)
def test_every_feature_s_integration_path_runs_on_every_minor(module):
    """A new integration module either marks the tests that exercise Airflow ``matrix`` or says here why
    no older minor needs it: otherwise the older minors would silently skip a feature."""
    source = (INTEGRATION / module).read_text(encoding="utf-8")
    marked = re.search(r"pytest\.mark\.matrix\b", source) is not None
    assert marked != (module in NOT_VERSION_DEPENDENT), (
        f"{module}: mark the tests that exercise Airflow with @pytest.mark.matrix, or list the module in "
        "NOT_VERSION_DEPENDENT with the reason"
    )

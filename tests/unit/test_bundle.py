"""``PlatformDagBundle``: maintenance DAGs by default, examples only when asked for."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit

MAINTENANCE = {
    "platform_kit_log_cleanup",
    "platform_kit_metadb_backup",
    "platform_kit_export",
    "platform_kit_metadb_cleanup",
}


def dags_served(**kwargs) -> set[str]:
    from platform_kit.version_compat import dag_bag_class

    DagBag = dag_bag_class()

    from platform_kit.bundle import PlatformDagBundle

    bundle = PlatformDagBundle(name="platform-kit", **kwargs)
    bag = DagBag(dag_folder=str(bundle.path), safe_mode=True)
    assert bag.import_errors == {}
    return set(bag.dags)


@pytest.fixture(scope="module")
def every_shipped_dag() -> set[str]:
    return dags_served(include="all")


def test_by_default_only_the_maintenance_dags(every_shipped_dag):
    assert dags_served() == MAINTENANCE
    assert len(every_shipped_dag - MAINTENANCE) >= 9  # the examples stayed out


def test_examples_only_or_everything_when_asked_for(every_shipped_dag):
    examples = dags_served(include="examples")
    assert examples and not examples & MAINTENANCE
    assert every_shipped_dag == MAINTENANCE | examples


def test_an_unknown_choice_fails_in_one_line_naming_the_choices():
    from platform_kit.bundle import PlatformDagBundle
    from platform_kit.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError) as raised:
        PlatformDagBundle(name="platform-kit", include="example")
    message = str(raised.value)
    assert "\n" not in message
    assert "include='example'" in message and "'maintenance', 'examples', 'all'" in message

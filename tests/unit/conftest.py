from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dag_bag():
    """Every DAG file of the bundle, parsed the way the dag-processor parses them."""
    from platform_kit.version_compat import dag_bag_class

    DagBag = dag_bag_class()

    return DagBag(dag_folder=str(REPO / "dags"), safe_mode=False)

"""Fixtures shared by the integration modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def fresh_alert_memory() -> Iterator[None]:
    """No cached alert connections and no memory of sent alerts, before and after the test: each test
    sets its own connections and expects its own messages."""
    from platform_kit.alerts import connections
    from platform_kit.alerts.notifier import forget_sent_alerts

    connections.clear_cache()
    forget_sent_alerts()
    yield
    connections.clear_cache()

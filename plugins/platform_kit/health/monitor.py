"""Poll ``/api/v2/monitor/health`` and report transitions, not states.

The endpoint answers HTTP 200 even when the scheduler, dag-processor or triggerer is down, so the monitor
reads the body. A component must be seen in its new state ``confirmations`` times in a row before an
alert goes out, so one slow heartbeat does not page anyone; each change is reported once, and its
recovery once.

With a backup URL it is also a dead man's switch (:mod:`platform_kit.health.backups`): it lists the
bucket every ``backup_interval`` seconds and reports when the newest verified backup gets older than the
limit, and again when a fresh one arrives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import requests

log = logging.getLogger(__name__)

#: Components in the health body. ``status`` is ``healthy``, ``unhealthy`` or ``null`` (never ran).
COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
#: Pseudo-component used when the api-server itself does not answer.
API_SERVER = "api_server"
#: Alert titles of the pseudo-components that are not Airflow processes: (unhealthy, recovered).
TITLES = {
    "backup": ("No fresh verified Airflow backup", "Fresh verified Airflow backup"),
    "backup_storage": ("Cannot read the Airflow backups", "Airflow backups readable again"),
}


@dataclass(frozen=True)
class Transition:
    """A component that changed state: ``healthy`` -> ``unhealthy`` or back."""

    component: str
    healthy: bool
    detail: str


def read_health(api_url: str, timeout: float = 10) -> dict[str, tuple[bool, str]]:
    """``{component: (healthy, detail)}`` from the health body; the api-server counts as a component."""
    try:
        response = requests.get(f"{api_url.rstrip('/')}/api/v2/monitor/health", timeout=timeout)
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        return {API_SERVER: (False, f"health endpoint unreachable: {type(exc).__name__}")}
    states = {API_SERVER: (True, "answering")}
    for component in COMPONENTS:
        info = body.get(component) or {}
        status = info.get("status")
        heartbeat = next((v for k, v in info.items() if k.startswith("latest_") and v), None)
        detail = f"status {status or 'never reported'}" + (
            f", last heartbeat {heartbeat}" if heartbeat else ""
        )
        states[component] = (status == "healthy", detail)
    return states


@dataclass
class HealthWatcher:
    """Turns a stream of health readings into confirmed transitions.

    :param confirmations: consecutive readings needed before a change counts.
    """

    confirmations: int = 2
    _confirmed: dict[str, bool] = field(default_factory=dict)
    _pending: dict[str, tuple[bool, int]] = field(default_factory=dict)

    def observe(self, states: dict[str, tuple[bool, str]]) -> list[Transition]:
        transitions = []
        if not states.get(API_SERVER, (True, ""))[0]:
            # Without an answer nothing is known about the other components: keep their last state.
            states = {API_SERVER: states[API_SERVER]}
        for component, (healthy, detail) in states.items():
            confirmed = self._confirmed.get(component)
            if confirmed is None and healthy:
                self._confirmed[component] = True  # healthy at start-up: nothing to say
                continue
            if confirmed == healthy:
                self._pending.pop(component, None)
                continue
            seen_state, count = self._pending.get(component, (healthy, 0))
            count = count + 1 if seen_state == healthy else 1
            if count >= self.confirmations:
                self._confirmed[component] = healthy
                self._pending.pop(component, None)
                transitions.append(Transition(component, healthy, detail))
            else:
                self._pending[component] = (healthy, count)
        return transitions


def notify_slack(conn_id: str, api_url: str) -> Callable[[Transition], bool]:
    """A notifier posting each transition through the alerting plugin's delivery (never raises)."""
    from platform_kit.alerts.connections import get_target
    from platform_kit.alerts.dispatch import send_alert
    from platform_kit.alerts.message import Alert

    def send(transition: Transition) -> bool:
        target = get_target(conn_id)
        if target is None:
            log.error("Health alert not sent: no connection %r (type slackwebhook).", conn_id)
            return False
        name = transition.component.replace("_", "-")
        if transition.component in TITLES:
            title = TITLES[transition.component][1 if transition.healthy else 0]
        else:
            title = f"Airflow {name} recovered" if transition.healthy else f"Airflow {name} is UNHEALTHY"
        facts = (("Component", name), ("Now", transition.detail), ("Airflow", api_url))
        alert = Alert(kind="recovery" if transition.healthy else "failure", title=title, facts=facts)
        return send_alert(alert, target).ok

    return send


def watch(
    api_url: str,
    notify: Callable[[Transition], object],
    *,
    interval: float = 15,
    confirmations: int = 2,
    heartbeat_file: Path | None = None,
    iterations: Iterable[int] | None = None,
    check_backups: Callable[[], dict[str, tuple[bool, str]]] | None = None,
    backup_interval: float = 300,
) -> None:
    """Poll forever (or for ``iterations``), calling ``notify`` once per confirmed transition.

    :param api_url: the api-server base address.
    :param notify: called with each :class:`Transition`.
    :param interval: seconds between polls.
    :param confirmations: readings in a row before a change counts.
    :param heartbeat_file: touched after every poll, for a container healthcheck.
    :param check_backups: the dead man's switch, e.g. :func:`platform_kit.health.backups.read_backups`
        bound to a URL; ``None`` = off. One listing is authoritative: its changes need no confirmation.
    :param backup_interval: seconds between two backup checks (the first is at start-up).
    """
    watcher = HealthWatcher(confirmations=confirmations)
    backup_watcher = HealthWatcher(confirmations=1)
    next_backup_check = time.monotonic()
    for _ in iterations if iterations is not None else iter(int, 1):
        transitions = watcher.observe(read_health(api_url))
        if check_backups is not None and time.monotonic() >= next_backup_check:
            transitions += backup_watcher.observe(check_backups())
            next_backup_check = time.monotonic() + backup_interval
        for transition in transitions:
            log.warning(
                "Health change: %s %s (%s)",
                transition.component,
                "recovered" if transition.healthy else "unhealthy",
                transition.detail,
            )
            notify(transition)
        if heartbeat_file:
            heartbeat_file.touch()
        time.sleep(interval)

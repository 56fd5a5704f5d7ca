"""The production loop: a heartbeat each second, systemd told READY, STATUS and watchdog pings.

Watchdog pings go out only while every actor answers a ping, so a wedged actor stops them and
systemd restarts the service. The loop ends at the day's last expiration work (17:30 ET), on
SIGTERM/SIGINT, or on a supervisor escalation (exit 70, so systemd's Restart=on-failure applies).
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime

from domain.clock import Clock
from runtime.service import Service
from runtime.systemd import SystemdNotifier, Watchdog

log = logging.getLogger("cleanup.daemon")
STATUS_EVERY_TICKS = 30


def install_stop_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: object) -> None:
        log.warning("received %s: stopping cleanly", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def status_line(service: Service) -> str:
    status = service.status()
    at_risk = sum(1 for p in status["positions_at_risk"] if p["action"] != "none")
    halted = " HALTED" if status["trading_halted"] else ""
    return (f"{status['mode']}{halted} {status['stage']} {status['minutes_to_close']:.0f} min to close, "
            f"{status['positions']} expiring positions, {at_risk} at risk, prices {status['price_source'] or 'none'}, "
            f"broker {'up' if status['broker_connected'] else 'DOWN'}")


def serve(service: Service, clock: Clock, until: datetime, stop: threading.Event,
          notifier: SystemdNotifier) -> int:
    ticks = 0
    with Watchdog(notifier, service.supervisor.healthy):
        notifier.ready(status_line(service))
        while not stop.is_set() and not service.escalated and clock.now() < until:
            service.tick()
            ticks += 1
            if ticks % STATUS_EVERY_TICKS == 0:
                notifier.status(status_line(service))
            stop.wait(1.0)
    reason = "escalated" if service.escalated else ("signal" if stop.is_set() else "day's work done")
    notifier.stopping(f"stopping: {reason}")
    log.info("service loop ends: %s", reason)
    return service.supervisor.exit_code

"""The one alert sender with channels that are not Apprise: routing, workers, and every outcome counted."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from domain.alerts import Alert, Delivery, Severity
from domain.session import EASTERN
from gateways.alerts import THROTTLED, AlertSender
from gateways.metrics import Metrics
from runtime.clock import VirtualClock


class Recording:
    def __init__(self, label: str, min_severity: Severity, error: str = "", raises: bool = False,
                 gate: threading.Event | None = None) -> None:
        self.label, self.min_severity = label, min_severity
        self.error, self.raises, self.gate = error, raises, gate
        self.got: list[str] = []
        self.attempts = 0

    def deliver(self, alert: Alert) -> str:
        self.attempts += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.raises:
            raise RuntimeError("plugin bug")
        self.got.append(alert.key)
        return self.error


def until(condition) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def alert(key: str, severity: Severity = Severity.CRITICAL) -> Alert:
    return Alert(severity, f"title {key}", "body", key=key)


def test_routing_outcomes_and_metrics_for_any_channel():
    clock = VirtualClock(datetime(2026, 11, 25, 15, 55, tzinfo=EASTERN))
    metrics = Metrics(process_collectors=False)
    reports: list[tuple[str, Delivery]] = []

    def record(label: str, outcome: Delivery) -> None:
        reports.append((label, outcome))
        metrics.alert_delivery(label, outcome)

    gate = threading.Event()
    pager, mail = Recording("pager#1", Severity.CRITICAL), Recording("mail#2", Severity.INFO, error="550 refused")
    broken, slow = Recording("hook#3", Severity.WARNING, raises=True), Recording("slow#4", Severity.INFO, gate=gate)
    sender = AlertSender([pager, mail, broken, slow], clock, throttle_seconds=300, queue_size=1, on_delivery=record)
    try:
        assert sender.send(alert("fill", Severity.INFO))  # info: mail and slow only
        until(lambda: mail.attempts == 1 and slow.attempts == 1)  # slow now holds "fill", its queue empty
        assert sender.send(alert("kill:on"))  # critical: all four; slow's queue (of 1) takes it
        until(lambda: mail.attempts == 2 and pager.attempts == 1 and broken.attempts == 1)
        assert sender.send(alert("halt"))  # slow's queue is full: dropped there, delivered elsewhere
        assert not sender.send(alert("halt"))  # a repeat within the throttle: to no channel
        until(lambda: mail.attempts == 3)
        gate.set()
        assert sender.flush(5)
    finally:
        sender.close()
    assert pager.got == ["kill:on", "halt"] and mail.got == ["fill", "kill:on", "halt"]
    assert slow.got == ["fill", "kill:on"]
    assert sorted(reports) == sorted([
        ("mail#2", Delivery.FAILED), ("mail#2", Delivery.FAILED), ("mail#2", Delivery.FAILED),
        ("pager#1", Delivery.SENT), ("pager#1", Delivery.SENT),
        ("hook#3", Delivery.FAILED), ("hook#3", Delivery.FAILED),
        ("slow#4", Delivery.SENT), ("slow#4", Delivery.SENT), ("slow#4", Delivery.DROPPED),
        (THROTTLED, Delivery.SUPPRESSED)])
    assert sender.counters().as_dict() == {"sent": 4, "failed": 5, "suppressed": 1, "dropped": 1}

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert sample("cleanup_alert_deliveries_total", channel="mail#2", outcome="failed") == 3
    assert sample("cleanup_alert_deliveries_total", channel="slow#4", outcome="dropped") == 1
    assert sample("cleanup_alert_deliveries_total", channel="pager#1", outcome="sent") == 2
    assert sample("cleanup_alerts_suppressed_total") == 1


def test_a_failing_counter_never_stops_an_alert():
    clock = VirtualClock(datetime(2026, 11, 25, 15, 55, tzinfo=EASTERN))
    pager = Recording("pager#1", Severity.INFO)

    def broken(label: str, outcome: Delivery) -> None:
        raise RuntimeError("metrics down")

    sender = AlertSender([pager], clock, on_delivery=broken)
    try:
        assert sender.send(alert("a")) and sender.flush(5)
    finally:
        sender.close()
    assert pager.got == ["a"]

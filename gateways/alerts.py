"""The one alert sender: throttle, route by severity, deliver on a worker per channel, count.

Any channel (Apprise is one: ``gateways.apprise_channels``) is a label, the lowest severity it
receives, and ``deliver(alert)``, which returns "" when delivered or what went wrong. Critical
alerts go to every channel, info (fills, summaries) only to channels that take info.

Each channel has its own worker thread and bounded queue: ``send`` only enqueues, so a slow or
hanging channel (an SMTP server that never answers) delays neither the caller nor the other
channels; when a queue is full the alert is dropped for that channel and counted. Every delivery's
outcome (sent, failed, dropped) and every throttled alert is also reported to ``on_delivery``
(the service counts them in its metrics).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.alerts import Alert, Delivery, Severity, Throttle
from domain.clock import Clock

log = logging.getLogger(__name__)

_STOP = object()
THROTTLED = "throttle"  # the channel label on_delivery gets with Delivery.SUPPRESSED: no channel saw the alert

DeliveryRecorder = Callable[[str, Delivery], None]  # (channel label, what became of the alert there)


class Channel(Protocol):
    label: str  # safe to log: never a URL or a token
    min_severity: Severity

    def deliver(self, alert: Alert) -> str: ...  # "" when delivered, else what went wrong (may raise)


@dataclass
class AlertCounters:
    sent: int = 0  # channel deliveries that succeeded
    failed: int = 0  # channel deliveries that failed or raised
    suppressed: int = 0  # alerts held back by the throttle (not sent to any channel)
    dropped: int = 0  # channel deliveries skipped because that channel's queue was full

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "suppressed": self.suppressed, "dropped": self.dropped}


class _Worker:
    """One channel with its own bounded queue and worker thread."""

    def __init__(self, channel: Channel, queue_size: int, on_result: Callable[[Channel, Alert, str], None]) -> None:
        self.channel = channel
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._on_result = on_result
        self.thread = threading.Thread(target=self._run, name=f"alerts-{channel.label}", daemon=True)

    def accepts(self, severity: Severity) -> bool:
        return severity.rank >= self.channel.min_severity.rank

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is _STOP:
                    return
                self._deliver(item)
            finally:
                self.queue.task_done()

    def _deliver(self, alert: Alert) -> None:
        try:
            error = self.channel.deliver(alert)
        except Exception as exc:  # a plugin bug must not kill the worker
            error = f"{type(exc).__name__}: {exc}"
        self._on_result(self.channel, alert, error)


class AlertSender:
    """``send(alert)`` throttles, then enqueues per channel and returns at once."""

    def __init__(self, channels: Sequence[Channel], clock: Clock, throttle_seconds: float = 300.0,
                 queue_size: int = 100, *, on_delivery: DeliveryRecorder | None = None,
                 redact: Callable[[str], str] = str) -> None:
        self.clock = clock
        self._throttle = Throttle(throttle_seconds)
        self._lock = threading.Lock()
        self._counters = AlertCounters()
        self._on_delivery = on_delivery
        self._redact = redact  # error texts may quote a channel's URL
        self._workers = [_Worker(channel, queue_size, self._record_result) for channel in channels]
        for worker in self._workers:
            worker.thread.start()

    @property
    def channels(self) -> list[Channel]:
        return [worker.channel for worker in self._workers]

    def send(self, alert: Alert) -> bool:
        """Queue the alert for every channel routed its severity; False if throttled or nowhere to go."""
        with self._lock:
            decided = self._throttle.decide(alert, self.clock.now())
            if decided is None:
                self._counters.suppressed += 1
        if decided is None:
            log.debug("alert %s suppressed by the throttle", alert.key)
            self._report(THROTTLED, Delivery.SUPPRESSED)
            return False
        log.info("alert [%s] %s", decided.severity.value, decided.title)
        queued = False
        for worker in self._workers:
            if not worker.accepts(decided.severity):
                continue
            try:
                worker.queue.put_nowait(decided)
                queued = True
            except queue.Full:
                with self._lock:
                    self._counters.dropped += 1
                log.warning("alert channel %s is backed up: dropped alert %s", worker.channel.label, decided.key)
                self._report(worker.channel.label, Delivery.DROPPED)
        return queued

    def counters(self) -> AlertCounters:
        with self._lock:
            return AlertCounters(**self._counters.as_dict())

    def pending_suppressed(self) -> dict[str, int]:
        """Repeats held back and not yet reported, for the end-of-session summary."""
        with self._lock:
            return self._throttle.pending_suppressed()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (wall time, shutdown and tests) until every queued alert was attempted."""
        done = threading.Event()

        def wait_all() -> None:
            for worker in self._workers:
                worker.queue.join()
            done.set()

        threading.Thread(target=wait_all, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Let queued alerts go out (up to ``timeout``), then stop the workers."""
        for worker in self._workers:
            try:
                worker.queue.put(_STOP, timeout=timeout)
            except queue.Full:
                log.warning("alert channel %s still backed up at shutdown", worker.channel.label)
        for worker in self._workers:
            worker.thread.join(timeout)

    def _record_result(self, channel: Channel, alert: Alert, error: str) -> None:
        with self._lock:
            if error:
                self._counters.failed += 1
            else:
                self._counters.sent += 1
        self._report(channel.label, Delivery.FAILED if error else Delivery.SENT)
        if error:
            log.warning("alert channel %s failed to deliver %s: %s", channel.label, alert.key, self._redact(error))

    def _report(self, label: str, outcome: Delivery) -> None:
        if self._on_delivery is None:
            return
        try:
            self._on_delivery(label, outcome)
        except Exception:  # counting must never stop an alert
            log.exception("alert delivery counter failed")

"""Alerts out through Apprise, off the caller's thread, routed by severity.

Routing: ``alert_urls`` holds Apprise URLs separated by spaces or commas. Each URL may end with
``tag=info``, ``tag=warning`` or ``tag=critical`` (as a query parameter): the lowest severity that
channel receives. Untagged URLs receive warning and critical. So critical alerts go to every
channel, and info (fills, summaries) only to channels tagged ``info``. The ``tag`` parameter is
removed before the URL is given to Apprise.

Each channel has its own worker thread and bounded queue: ``send`` only enqueues, so a slow or
hanging channel (an SMTP server that never answers) delays neither the caller nor the other
channels; when a queue is full the alert is dropped for that channel and counted. URLs carry
tokens and passwords, so channels are named ``<scheme>#<n>`` in logs, and a filter scrubs URL
fragments from Apprise's and urllib3's own log records.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import apprise

from domain.alerts import Alert, Severity, Throttle
from runtime.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_MIN_SEVERITY = Severity.WARNING
# Split on whitespace, and on commas only when a new URL follows: commas also separate
# recipients inside one URL (mailto://...?to=a@x,b@y).
_URL_SEPARATOR = re.compile(r"\s+|,\s*(?=[a-z][a-z0-9+.-]*://)", re.IGNORECASE)
_NOTIFY_TYPES = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}
_STOP = object()
_PLAIN = re.compile(r"^(\d+|[a-z0-9-]+(\.[a-z0-9-]+)+)$", re.IGNORECASE)


class RedactingFilter(logging.Filter):
    """Replaces secret fragments in log records (message and arguments) with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
        return True


_redactor = RedactingFilter()


def install_redaction(secrets: Iterable[str], logger_names: Sequence[str]) -> RedactingFilter:
    """Scrub ``secrets`` from the named loggers' records (third-party loggers print request URLs)."""
    _redactor.add(secrets)
    for name in logger_names:
        logger = logging.getLogger(name)
        if _redactor not in logger.filters:
            logger.addFilter(_redactor)
    return _redactor


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be credentials: the whole URL, and every longer word in it."""
    rest = url.split("://", 1)[-1]
    words = re.split(r"[/@?&=,:;#\s]+", rest)
    # Short words (ports, "to"), host names and numbers are not secrets, and redacting them would
    # garble every log line of the HTTP libraries.
    return [url, rest] + [word for word in words if len(word) >= 6 and not _PLAIN.match(word)]


@dataclass(frozen=True)
class ChannelSpec:
    url: str  # without the tag parameter; a secret
    min_severity: Severity
    label: str  # safe to log

    def accepts(self, severity: Severity) -> bool:
        return severity.rank >= self.min_severity.rank


def parse_alert_urls(text: str | Sequence[str] | None) -> list[ChannelSpec]:
    """Split the configured URLs and read each one's ``tag=`` (minimum severity)."""
    if not text:
        return []
    raw = [text] if isinstance(text, str) else list(text)
    urls = [part for item in raw for part in _URL_SEPARATOR.split(item.strip()) if part]
    channels = []
    for index, url in enumerate(urls, start=1):
        scheme = url.split("://", 1)[0].lower() if "://" in url else "invalid"
        label = f"{scheme}#{index}"
        base, _, query = url.partition("?")
        params = parse_qsl(query, keep_blank_values=True)
        tags = [value for key, value in params if key.lower() in ("tag", "tags")]
        kept = [(key, value) for key, value in params if key.lower() not in ("tag", "tags")]
        try:
            severity = Severity.parse(tags[-1]) if tags else DEFAULT_MIN_SEVERITY
        except ValueError as error:
            raise ValueError(f"alert URL {label}: {error}") from None
        clean = f"{base}?{urlencode(kept, safe='@,:/')}" if kept else base
        channels.append(ChannelSpec(clean, severity, label))
    return channels


def apprise_for(spec: ChannelSpec) -> apprise.Apprise:
    """An Apprise object for one channel, or ValueError naming the channel (never its URL) and the fault."""
    made = apprise.Apprise()
    # Apprise logs the URL it refuses, tokens and all; our one line below says what is wrong instead.
    apprise_log = logging.getLogger("apprise")
    was_disabled, apprise_log.disabled = apprise_log.disabled, True
    try:
        accepted = made.add(spec.url)
    finally:
        apprise_log.disabled = was_disabled
    if accepted:
        return made
    scheme = spec.url.split("://", 1)[0].lower() if "://" in spec.url else ""
    if not scheme:
        raise ValueError(f"alert URL {spec.label}: not a URL (Apprise URLs start with a service such as "
                         "tgram:// or mailto://)")
    if scheme not in apprise.NotificationManager().schemas():
        raise ValueError(f"alert URL {spec.label}: Apprise {apprise.__version__} has no service '{scheme}://'; "
                         "see https://github.com/caronc/apprise/wiki for URL formats")
    raise ValueError(f"alert URL {spec.label}: Apprise refuses this {scheme}:// URL (a token, host or recipient "
                     "is missing or malformed); see https://github.com/caronc/apprise/wiki for its format")


def check_alert_urls(text: str | None) -> list[ChannelSpec]:
    """Parse and have Apprise accept every URL now (configuration time), so `run` cannot fail on one later."""
    specs = parse_alert_urls(text)
    for spec in specs:
        apprise_for(spec)
    return specs


@dataclass
class AlertCounters:
    sent: int = 0  # channel deliveries that succeeded
    failed: int = 0  # channel deliveries that failed or raised
    suppressed: int = 0  # alerts held back by the throttle (not sent to any channel)
    dropped: int = 0  # channel deliveries skipped because that channel's queue was full

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "suppressed": self.suppressed, "dropped": self.dropped}


class _Channel:
    """One Apprise URL with its own queue and worker thread."""

    def __init__(self, spec: ChannelSpec, queue_size: int, on_result) -> None:
        self.spec = spec
        self.apprise = apprise_for(spec)
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._on_result = on_result
        self.thread = threading.Thread(target=self._run, name=f"alerts-{spec.label}", daemon=True)

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
            ok = bool(self.apprise.notify(body=alert.body, title=alert.title,
                                          notify_type=_NOTIFY_TYPES[alert.severity]))
            error = "" if ok else "the service reported a failure"
        except Exception as exc:  # a plugin bug must not kill the worker
            ok, error = False, f"{type(exc).__name__}: {exc}"
        self._on_result(self.spec, alert, ok, error)


class AppriseAlertSender:
    """``send(alert)`` throttles, then enqueues per channel and returns at once."""

    def __init__(self, urls: str | Sequence[str] | None, clock: Clock, throttle_seconds: float = 300.0,
                 queue_size: int = 100) -> None:
        self.clock = clock
        specs = parse_alert_urls(urls)
        install_redaction([s for spec in specs for s in url_secrets(spec.url)],
                          ["apprise", "urllib3.connectionpool", "requests", __name__])
        self._throttle = Throttle(throttle_seconds)
        self._lock = threading.Lock()
        self._counters = AlertCounters()
        self._channels = [_Channel(spec, queue_size, self._record_result) for spec in specs]
        for channel in self._channels:
            channel.thread.start()
        if not self._channels:
            log.warning("no alert URLs configured: alerts are logged only")

    @classmethod
    def from_settings(cls, settings, clock: Clock, queue_size: int = 100) -> AppriseAlertSender:
        return cls(settings.secret("alert_urls"), clock, settings.alert_throttle_seconds, queue_size)

    @property
    def channels(self) -> list[ChannelSpec]:
        return [channel.spec for channel in self._channels]

    def send(self, alert: Alert) -> bool:
        """Queue the alert for every channel routed its severity; False if throttled or nowhere to go."""
        with self._lock:
            decided = self._throttle.decide(alert, self.clock.now())
            if decided is None:
                self._counters.suppressed += 1
                log.debug("alert %s suppressed by the throttle", alert.key)
                return False
        log.info("alert [%s] %s", decided.severity.value, decided.title)
        queued = False
        for channel in self._channels:
            if not channel.spec.accepts(decided.severity):
                continue
            try:
                channel.queue.put_nowait(decided)
                queued = True
            except queue.Full:
                with self._lock:
                    self._counters.dropped += 1
                log.warning("alert channel %s is backed up: dropped alert %s", channel.spec.label, decided.key)
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
            for channel in self._channels:
                channel.queue.join()
            done.set()

        threading.Thread(target=wait_all, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Let queued alerts go out (up to ``timeout``), then stop the workers."""
        for channel in self._channels:
            try:
                channel.queue.put(_STOP, timeout=timeout)
            except queue.Full:
                log.warning("alert channel %s still backed up at shutdown", channel.spec.label)
        for channel in self._channels:
            channel.thread.join(timeout)

    def _record_result(self, spec: ChannelSpec, alert: Alert, ok: bool, error: str) -> None:
        with self._lock:
            if ok:
                self._counters.sent += 1
            else:
                self._counters.failed += 1
        if not ok:
            log.warning("alert channel %s failed to deliver %s: %s", spec.label, alert.key, _redactor.redact(error))

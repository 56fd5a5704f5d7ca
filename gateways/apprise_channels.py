"""Apprise as an alert channel: the configured URLs, their routing tags, and secrets kept out of logs.

Routing: ``alert_urls`` holds Apprise URLs separated by spaces or commas. Each URL may end with
``tag=info``, ``tag=warning`` or ``tag=critical`` (as a query parameter): the lowest severity that
channel receives. Untagged URLs receive warning and critical. So critical alerts go to every
channel, and info (fills, summaries) only to channels tagged ``info``. The ``tag`` parameter is
removed before the URL is given to Apprise.

Each URL is one channel of the one sender (``gateways.alerts.AlertSender``: throttle, routing,
a worker per channel, counters). URLs carry tokens and passwords, so channels are named
``<scheme>#<n>`` in logs, and a filter scrubs URL fragments from Apprise's and urllib3's own log
records.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

import apprise

from config.alert_urls import ChannelSpec, apprise_for, parse_alert_urls
from domain.alerts import Alert, Severity
from gateways.alerts import AlertSender, DeliveryRecorder

log = logging.getLogger(__name__)

_NOTIFY_TYPES = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}
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


class AppriseChannel:
    """One Apprise URL: delivers on the sender's worker thread for this channel."""

    def __init__(self, spec: ChannelSpec) -> None:
        self.spec = spec
        self.label = spec.label
        self.min_severity = spec.min_severity
        self._apprise = apprise_for(spec)

    def deliver(self, alert: Alert) -> str:
        ok = bool(self._apprise.notify(body=alert.body, title=alert.title, notify_type=_NOTIFY_TYPES[alert.severity]))
        return "" if ok else "the service reported a failure"


def apprise_sender(urls: str | Sequence[str] | None, clock, throttle_seconds: float = 300.0, queue_size: int = 100,
                   on_delivery: DeliveryRecorder | None = None) -> AlertSender:
    """The sender with one Apprise channel per configured URL (none: alerts are logged only)."""
    specs = parse_alert_urls(urls)
    install_redaction([s for spec in specs for s in url_secrets(spec.url)],
                      ["apprise", "urllib3.connectionpool", "requests", "gateways.alerts", __name__])
    if not specs:
        log.warning("no alert URLs configured: alerts are logged only")
    return AlertSender([AppriseChannel(spec) for spec in specs], clock, throttle_seconds, queue_size,
                       on_delivery=on_delivery, redact=_redactor.redact)


def sender_from_settings(settings, clock, on_delivery: DeliveryRecorder | None = None) -> AlertSender:
    return apprise_sender(settings.secret("alert_urls"), clock, settings.alert_throttle_seconds,
                          on_delivery=on_delivery)

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
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import apprise

from domain.alerts import Alert, Severity
from gateways.alerts import AlertSender, DeliveryRecorder

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

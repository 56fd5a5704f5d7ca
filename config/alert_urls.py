"""The configured alert URLs: split, each one's routing tag read, and Apprise asked to accept it.

Checked when the configuration is loaded (``check_alert_urls``), so `run` cannot fail on a URL later,
under systemd; ``gateways.apprise_channels`` builds the channels from the same parse. Errors name a
channel ``<scheme>#<n>``, never its URL: URLs carry tokens and passwords.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import apprise

from domain.alerts import Severity

DEFAULT_MIN_SEVERITY = Severity.WARNING
# Split on whitespace, and on commas only when a new URL follows: commas also separate
# recipients inside one URL (mailto://...?to=a@x,b@y).
_URL_SEPARATOR = re.compile(r"\s+|,\s*(?=[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


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

"""Alerts through real Apprise to real local servers: SMTP (aiosmtpd) and an HTTP receiver for json://."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from config.alert_urls import parse_alert_urls
from domain import alerts
from domain.alerts import Alert, Severity
from gateways.apprise_channels import apprise_sender
from runtime.clock import VirtualClock

SECRET = "SECRETtoken0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """HTTP endpoint for json://: records (path, payload, monotonic time); /hang* blocks until released."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict, int]] = []
        self.release = threading.Event()
        self.hang_started = threading.Event()
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.changed:
                    receiver.received.append((self.path, payload, time.monotonic_ns()))
                    receiver.changed.notify_all()
                if self.path.startswith("/hang"):
                    receiver.hang_started.set()
                    receiver.release.wait(30)
                status = 500 if self.path.startswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str, tag: str | None = None) -> str:
        query = f"?tag={tag}" if tag else ""
        return f"json://127.0.0.1:{self.server.server_port}{path}{query}"

    def at(self, prefix: str) -> list[dict]:
        with self.changed:
            return [payload for path, payload, _ in self.received if path.startswith(prefix)]

    def wait_for(self, prefix: str, count: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.at(prefix)) < count and time.monotonic() < deadline:
                self.changed.wait(0.1)
        return self.at(prefix)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, box
    controller.stop()


@pytest.fixture
def clock():
    return VirtualClock(datetime(2026, 11, 27, 17, 30, tzinfo=UTC))


@pytest.fixture
def senders():
    made = []
    yield made
    for sender in made:
        sender.close(timeout=2)


def test_critical_alert_arrives_by_email_through_plain_smtp(smtp, clock, senders):
    controller, box = smtp
    url = f"mailto://127.0.0.1:{controller.port}?from=cleanup@example.com&to=trader@example.com"
    sender = apprise_sender(url, clock)
    senders.append(sender)
    assert sender.send(alerts.breaker_tripped(6, 60, "order rejected"))
    assert sender.flush(30)
    [envelope] = box.messages
    assert envelope.mail_from == "cleanup@example.com" and envelope.rcpt_tos == ["trader@example.com"]
    mail = message_from_bytes(envelope.content, policy=email_policy)
    assert mail["Subject"] == "Circuit breaker tripped: order flow halted"
    assert "6 order failures within 60 s. Last error: order rejected." in mail.get_body(("plain",)).get_content()
    assert sender.counters().as_dict() == {"sent": 1, "failed": 0, "suppressed": 0, "dropped": 0}


def test_json_channel_gets_title_body_and_type(receiver, clock, senders):
    sender = apprise_sender(receiver.url("/hook"), clock)
    senders.append(sender)
    sender.send(alerts.close_failed("SPY 20261127 635C", 3, "SELL", "no bid", 2))
    [payload] = receiver.wait_for("/hook", 1)
    assert payload["title"] == "Close FAILED: SPY 20261127 635C"
    assert payload["message"] == "SELL 3 SPY 20261127 635C failed after attempt 2: no bid. The position is still open."
    assert payload["type"] == "failure"


def test_severity_routing_by_tag(receiver, clock, senders):
    urls = " ".join([receiver.url("/all", "info"), receiver.url("/default"), receiver.url("/pager", "critical")])
    sender = apprise_sender(urls, clock)
    senders.append(sender)
    for severity in Severity:
        sender.send(Alert(severity, severity.value, "body", f"key-{severity.value}"))
    assert sender.flush(15)
    assert [p["title"] for p in receiver.at("/all")] == ["info", "warning", "critical"]
    assert [p["title"] for p in receiver.at("/default")] == ["warning", "critical"]
    assert [p["title"] for p in receiver.at("/pager")] == ["critical"]
    assert sender.counters().sent == 6


def test_a_hanging_channel_blocks_neither_the_caller_nor_other_channels(receiver, clock, senders):
    sender = apprise_sender(f"{receiver.url('/hang')}, {receiver.url('/fast')}", clock)
    senders.append(sender)
    orders: list[tuple[int, int]] = []  # (order number, monotonic ns): the trading path's timestamps
    sender.send(Alert(Severity.CRITICAL, "first", "body", "a0"))
    assert receiver.hang_started.wait(10)  # the slow channel is now stuck inside its first delivery
    for number in range(1, 6):
        sender.send(Alert(Severity.CRITICAL, f"alert {number}", "body", f"a{number}"))
        orders.append((number, time.monotonic_ns()))
    fast = receiver.wait_for("/fast", 6)
    still_hanging = len(receiver.at("/hang"))
    released_at = time.monotonic_ns()
    receiver.release.set()
    assert sender.flush(20)

    assert [n for n, _ in orders] == [1, 2, 3, 4, 5]
    assert all(at < released_at for _, at in orders)  # every "order" went out while the channel hung
    assert len(fast) == 6 and still_hanging == 1  # the other channel was served meanwhile
    fast_times = [at for path, _, at in receiver.received if path == "/fast"]
    assert max(fast_times) < released_at
    assert len(receiver.at("/hang")) == 6 and sender.counters().sent == 12


def test_full_queue_drops_and_counts(receiver, clock, senders):
    sender = apprise_sender(receiver.url("/hang"), clock, queue_size=2)
    senders.append(sender)
    sender.send(Alert(Severity.CRITICAL, "t", "b", "k0"))
    assert receiver.hang_started.wait(10)
    results = [sender.send(Alert(Severity.CRITICAL, "t", "b", f"k{i}")) for i in range(1, 5)]
    assert results == [True, True, False, False]
    assert sender.counters().dropped == 2
    receiver.release.set()
    assert sender.flush(20)
    assert len(receiver.at("/hang")) == 3


def test_failures_are_counted_and_logged_without_url_secrets(receiver, clock, senders, caplog):
    caplog.set_level(logging.DEBUG)
    sender = apprise_sender(receiver.url(f"/fail/{SECRET}"), clock)
    senders.append(sender)
    sender.send(alerts.kill_switch(True, "telegram 42"))
    assert sender.flush(15)
    assert sender.counters().as_dict() == {"sent": 0, "failed": 1, "suppressed": 0, "dropped": 0}
    assert "alert channel json#1 failed to deliver kill:on" in caplog.text
    assert SECRET not in caplog.text


def test_unreachable_channel_counts_a_failure(clock, senders):
    sender = apprise_sender(f"json://127.0.0.1:{free_port()}/x?cto=1", clock)
    senders.append(sender)
    sender.send(Alert(Severity.WARNING, "t", "b", "k"))
    assert sender.flush(15)
    assert sender.counters().failed == 1


def test_identical_alerts_are_throttled_on_the_clock(receiver, clock, senders):
    sender = apprise_sender(receiver.url("/hook"), clock, throttle_seconds=300)
    senders.append(sender)
    warning = alerts.outage("ThetaData", "timeout", fallback="IB quotes")
    assert sender.send(warning)
    assert not sender.send(warning)
    clock.advance(120)
    assert not sender.send(warning)
    assert sender.pending_suppressed() == {"outage:ThetaData:fallback": 2}
    clock.advance(180)
    assert sender.send(warning)
    payloads = receiver.wait_for("/hook", 2)
    assert len(payloads) == 2
    assert payloads[1]["message"].endswith("(2 identical repeats suppressed since 17:30:00)")
    assert sender.counters().suppressed == 2


def test_no_urls_means_log_only(clock, senders):
    sender = apprise_sender("", clock)
    senders.append(sender)
    assert sender.send(Alert(Severity.CRITICAL, "t", "b", "k")) is False
    assert sender.counters().sent == 0


def test_parse_urls_splits_on_spaces_and_commas_but_keeps_recipient_lists():
    specs = parse_alert_urls("tgram://123:ABC/456?tag=critical, mailto://u:p@example.com?to=a@x.com,b@x.com "
                             "json://h/p?tag=INFO&rto=5")
    assert [s.label for s in specs] == ["tgram#1", "mailto#2", "json#3"]
    assert [s.min_severity for s in specs] == [Severity.CRITICAL, Severity.WARNING, Severity.INFO]
    assert specs[0].url == "tgram://123:ABC/456"
    assert specs[1].url == "mailto://u:p@example.com?to=a@x.com,b@x.com"
    assert specs[2].url == "json://h/p?rto=5"
    with pytest.raises(ValueError, match=r"alert URL json#1: severity must be"):
        parse_alert_urls("json://h/p?tag=loud")

"""The /metrics endpoint over a real socket: served, scraped, closed; port 0 in the settings disables it."""

from __future__ import annotations

import socket
import tomllib
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from config import load_settings
from gateways.metrics import Metrics, serve_metrics, start_metrics_server
from tests.support.metrics import ROOT


def test_served_on_loopback_and_parsable() -> None:
    metrics = Metrics()
    metrics.set_up()
    with serve_metrics(metrics, "127.0.0.1", 0) as server:
        assert server.enabled and server.port > 0
        body = urllib.request.urlopen(server.url, timeout=5).read().decode()
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"cleanup_up", "cleanup_orders_submitted", "process_start_time_seconds"} <= names
    with socket.socket() as probe:  # closed: the port no longer accepts connections
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0


def test_the_default_configuration_binds_the_endpoint_to_loopback_only() -> None:
    defaults = tomllib.loads((ROOT / "config" / "defaults.toml").read_text())
    settings = load_settings(environ={}).settings
    assert defaults["metrics"]["metrics_host"] == settings.metrics_host == "127.0.0.1"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_metrics_server(Metrics(process_collectors=False), settings.metrics_host, port)
    try:
        # The listening socket itself, not only the URL: bound to loopback, not to every interface.
        assert server._httpd.socket.getsockname() == ("127.0.0.1", port)
        assert b"cleanup_up" in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    finally:
        server.close()


def test_port_zero_in_the_settings_disables_the_endpoint() -> None:
    server = start_metrics_server(Metrics(process_collectors=False), "127.0.0.1", 0)
    assert not server.enabled and server.url is None
    server.close()


def test_start_metrics_server_listens_on_the_given_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_metrics_server(Metrics(process_collectors=False), "127.0.0.1", port)
    try:
        assert server.port == port
        assert b"cleanup_up" in urllib.request.urlopen(server.url, timeout=5).read()
    finally:
        server.close()

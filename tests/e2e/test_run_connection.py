"""The ConnectionWatcher of `run`: every IB connection change reaches the metric, the alerts and the account."""

from types import SimpleNamespace

from actors.context import Roles
from domain.messages import PollNow
from gateways.metrics import Metrics
from gateways.ports import Connectivity
from runtime.connection_watcher import ConnectionWatcher


class Broker:
    connected = False

    def is_connected(self):
        return self.connected

    def account(self):
        return "DU7654321"

    def write_access(self):
        return None  # not connected: not known


class Recorder:
    def __init__(self):
        self.sent = []

    def send(self, alert):
        self.sent.append(alert)

    def tell(self, role, message):
        self.sent.append((role, message))


def connected_metric(metrics):
    return metrics.registry.get_sample_value("cleanup_broker_connected")


def test_a_gateway_down_at_start_is_alerted_before_the_service_exists_and_the_account_is_filled_in_on_connect():
    broker, metrics, sender, registry = Broker(), Metrics(process_collectors=False), Recorder(), Recorder()
    watcher = ConnectionWatcher(broker, metrics, sender)
    watcher.changed(Connectivity.DISCONNECTED, "connecting to IB Gateway at 127.0.0.1:4002")
    assert [a.title for a in sender.sent] == ["IB Gateway down"] and connected_metric(metrics) == 0

    service = SimpleNamespace(ctx=SimpleNamespace(account=""), registry=registry)
    watcher.attach(service)  # the service was built with no account: IB was down, ib_account unset
    broker.connected = True
    watcher.changed(Connectivity.CONNECTED, "connected")
    assert service.ctx.account == "DU7654321" and connected_metric(metrics) == 1
    assert [(role, type(m)) for role, m in registry.sent] == [(Roles.NOTIFIER, type(sender.sent[0])),
                                                              (Roles.POSITION_POLLER, PollNow)]
    assert registry.sent[0][1].title == "IB Gateway restored"


def test_the_usual_first_connect_is_no_restored_alert():
    broker, metrics, sender = Broker(), Metrics(process_collectors=False), Recorder()
    watcher = ConnectionWatcher(broker, metrics, sender)
    broker.connected = True
    watcher.changed(Connectivity.CONNECTED, "connected")
    assert sender.sent == [] and connected_metric(metrics) == 1

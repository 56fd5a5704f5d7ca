"""IB connection changes to the broker metric, alerts, a re-read of positions and the account; a read-only
API to a halt of trading with one critical alert naming the setting."""

from __future__ import annotations

from actors.context import Roles
from domain import alerts, order_alerts
from domain.messages import PollNow
from gateways.ib import IBBroker
from gateways.metrics import Metrics
from gateways.ports import AlertSender, Connectivity
from runtime.service import READ_ONLY_CAUSE, Service


class ConnectionWatcher:
    """IB connection changes (on the broker's loop thread) to the metric, alerts, a re-read and the account.

    It hears changes from before the service exists (the first connect, a gateway down at start): its
    alerts then go to the sender directly."""

    def __init__(self, broker: IBBroker, metrics: Metrics, sender: AlertSender) -> None:
        self.broker, self.metrics, self.sender = broker, metrics, sender
        self.service: Service | None = None
        self._down = False  # said "down": a connect is then news ("restored"), not the usual start

    def attach(self, service: Service) -> None:
        self.service = service
        self._fill_in_account()  # the connect may have come while the service was being built
        if self.broker.write_access() is False:
            self.write_access(False, f"IB Gateway at {self.broker.address} refused a what-if order at connect")

    def _fill_in_account(self) -> None:
        if self.service is not None and not self.service.ctx.account and self.broker.is_connected():
            self.service.ctx.account = self.broker.account()  # IB was down at start, no ib_account set

    def alert(self, alert: alerts.Alert) -> None:
        if self.service is not None:
            self.service.registry.tell(Roles.NOTIFIER, alert)
        else:
            self.sender.send(alert)

    def changed(self, state: Connectivity, reason: str) -> None:
        self.metrics.set_broker_connected(state is Connectivity.CONNECTED)
        if state is Connectivity.CONNECTED:
            self._fill_in_account()
            if self._down:
                self._down = False
                self.alert(alerts.outage("IB Gateway", reason, restored=True))
            if self.service is not None:
                self.service.registry.tell(Roles.POSITION_POLLER, PollNow("broker (re)connected: reconcile"))
        elif state is not Connectivity.CLOSED:
            self._down = True
            self.alert(alerts.outage("IB Gateway", reason))

    def write_access(self, writable: bool, reason: str) -> None:
        """IB refuses every order (Read-Only API): trading halts, said once; it resumes when IB takes orders."""
        if self.service is None:
            return  # said when attached: the service reads the broker's write access then
        if writable:
            self.service.gate.open(READ_ONLY_CAUSE)
            self.alert(alerts.Alert(alerts.Severity.WARNING, "IB Gateway takes orders again", reason, "read-only:off"))
            return
        self.service.gate.close(READ_ONLY_CAUSE, "IB Gateway's API is read-only: no order can be sent")
        self.alert(order_alerts.read_only_api(reason))

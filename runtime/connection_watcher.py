"""IB connection changes to the broker metric, alerts, a re-read of positions and the account."""

from __future__ import annotations

from actors.context import Roles
from actors.notifier import AlertSender
from domain import alerts
from domain.messages import PollNow
from gateways.ib import IBBroker
from gateways.ib.codes import Connectivity
from runtime.metrics import Metrics
from runtime.service import Service


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

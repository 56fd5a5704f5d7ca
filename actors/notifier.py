"""Notifier: alerts out through a sender that never blocks (Apprise in production, the log otherwise)."""

from __future__ import annotations

from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain.alerts import Alert
from gateways.ports import AlertSender


class Notifier(SupervisedActor):
    role = Roles.NOTIFIER

    def __init__(self, ctx: ActorContext, sender: AlertSender) -> None:
        super().__init__(ctx)
        self.sender = sender
        self.sent: list[Alert] = ctx.keeper.get(self.role, [])

    def handle(self, message: Any) -> Any:
        if isinstance(message, Alert):
            self.sender.send(message)
            self.sent.append(message)
            self.ctx.keeper.keep(self.role, self.sent)
            return None
        return super().handle(message)

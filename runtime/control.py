"""The control plane of a running service: one command handler behind every control surface."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from actors.context import Roles
from config.schema import Settings
from domain.clock import Clock
from gateways.telegram import TelegramCommandListener
from runtime.commands import CommandHandler
from runtime.control_socket import ControlSocketServer
from runtime.service import Service

log = logging.getLogger("cleanup.control")


def command_handler(service: Service) -> CommandHandler:
    """Commands act on the service and are audited through its AuditLogger, like every action."""
    return CommandHandler(service, lambda record: service.registry.tell(Roles.AUDIT_LOGGER, record), service.clock)


@contextlib.contextmanager
def control_plane(service: Service, settings: Settings) -> Iterator[CommandHandler]:
    """Serve the control socket (ctl, the terminal UI) and Telegram, if configured, while the service runs."""
    handler = command_handler(service)
    path = settings.control_socket_path
    path.parent.mkdir(parents=True, exist_ok=True)
    server = ControlSocketServer(path, handler.handle)
    server.start()
    log.info("control socket listening on %s", path)
    try:
        with telegram_listener(settings, handler, service.clock):
            yield handler
    finally:
        server.stop()


@contextlib.contextmanager
def telegram_listener(settings: Settings, handler: CommandHandler, clock: Clock) -> Iterator[None]:
    """The Telegram command channel, when a bot token is configured; nothing otherwise."""
    if not settings.secret("telegram_bot_token"):
        yield
        return
    listener = TelegramCommandListener.from_settings(settings, handler, clock)
    listener.start()
    if not settings.telegram_allowed_users and settings.telegram_users:
        log.warning("telegram_allowed_users is not set: obeying users %s, the positive ids of "
                    "telegram_allowed_chats (private chats, whose id is the user's); set telegram_allowed_users "
                    "to say who may command", list(settings.telegram_users))
    log.info("Telegram command channel listening: users %s in chats %s", list(settings.telegram_users),
             list(settings.telegram_allowed_chats))
    try:
        yield
    finally:
        listener.stop()

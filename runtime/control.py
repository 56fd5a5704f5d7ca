"""The control plane of a running service: one command handler behind every control surface."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from actors.context import Roles
from config.settings import Settings
from runtime.commands import CommandHandler
from runtime.control_socket import ControlSocketServer
from runtime.service import Service

log = logging.getLogger("cleanup.control")


def command_handler(service: Service) -> CommandHandler:
    """Commands act on the service and are audited through its AuditLogger, like every action."""
    return CommandHandler(service, lambda record: service.registry.tell(Roles.AUDIT_LOGGER, record), service.clock)


@contextlib.contextmanager
def control_plane(service: Service, settings: Settings) -> Iterator[CommandHandler]:
    """Serve the local control socket (ctl, the terminal UI) for as long as the service runs."""
    handler = command_handler(service)
    path = settings.control_socket_path
    path.parent.mkdir(parents=True, exist_ok=True)
    server = ControlSocketServer(path, handler.handle)
    server.start()
    log.info("control socket listening on %s", path)
    try:
        yield handler
    finally:
        server.stop()

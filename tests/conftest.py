"""Fixtures shared by the command-path tests (handler, control socket, Telegram)."""

import pytest

from tests.test_commands_support import AuditLog, Desk, clock_at


@pytest.fixture
def desk():
    """A trading desk with real positions at the T-30 stage of an early-close day."""
    return Desk(clock_at(20))


@pytest.fixture
def audit():
    return AuditLog()

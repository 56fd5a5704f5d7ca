"""Fixtures shared by the command-path tests (handler, control socket, Telegram)."""

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.test_commands_support import AuditLog, Desk, clock_at


@pytest.fixture
def desk():
    """A trading desk with real positions at the T-30 stage of an early-close day."""
    return Desk(clock_at(20))


@pytest.fixture
def audit():
    return AuditLog()


@pytest.fixture
def socket_dir():
    """A directory for control sockets that unprivileged users can reach.

    Not pytest's tmp_path: that is private to root (0700), and the permission tests run clients as
    other users, so that only the socket's own mode decides.
    """
    path = Path(tempfile.mkdtemp(prefix="ocm-ctl-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)

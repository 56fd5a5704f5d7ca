"""The test layers, and the fixtures shared by the command-path tests (handler, control socket, Telegram).

Every test module lives in one layer, and carries its marker (so `-m "not e2e"` works as well as a path):
  tests/unit         pure domain and parsing: no actors, sockets, subprocesses or databases (about 10 s)
  tests/integration  one part against a real peer or fake: the fake IB Gateway, PostgreSQL, Prometheus, textual
  tests/e2e          the whole actor tree or the CLI: simulations, `run` against the fakes, deploy, benchmarks
"""

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.commands import AuditLog, Desk, clock_at

LAYERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items):
    for item in items:
        layer = item.path.parent.name
        if layer not in LAYERS:
            raise pytest.UsageError(f"{item.path} is in no test layer: move it to tests/unit, tests/integration "
                                    "or tests/e2e (see tests/conftest.py)")
        item.add_marker(layer)


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

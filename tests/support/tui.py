"""Shared by the terminal UI tests: a real simulated session in a subprocess, and canned data for snapshots."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from config import load_settings
from config.schema import Settings
from domain.audit import ActionKind, ActionRecord
from domain.commands import CommandReply
from domain.model import OptionContract
from domain.session import EASTERN
from domain.structure_rules import StructureAssessment, StructurePlan
from domain.structure_view import structure_status
from domain.structures import Leg, Structure, StructureKind
from gateways.audit.factory import SQLITE_FILE, open_sqlite
from runtime.control_socket import ControlSocketError, send_command

ROOT = Path(__file__).resolve().parents[2]
# `python -m cli.main` from the repository: the real program, whatever the installed package list holds.
PROGRAM = [sys.executable, "-m", "cli.main"]
RUNS = "simulations"  # the session's simulation_dir, inside its data_dir


@dataclass
class Session:
    process: subprocess.Popen
    data_dir: Path

    @property
    def socket(self) -> Path:
        return self.data_dir / "control.sock"

    @property
    def settings(self) -> Settings:
        return load_settings(None, {"data_dir": str(self.data_dir),
                                    "simulation_dir": str(self.data_dir / RUNS)}).settings

    def audited(self) -> list[ActionRecord]:
        """The simulation run's records in its own store (one run per session), oldest first."""
        [run] = self.settings.simulation_dir.iterdir()
        store = open_sqlite(run / SQLITE_FILE)
        try:
            return store.run_actions(run.name)
        finally:
            store.close()

    def status(self) -> dict[str, Any]:
        reply = send_command(self.socket, "status", who="test")
        assert reply.ok, reply.text
        return reply.data


def wait_for_socket(path: Path, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the simulation exited early with {process.returncode}")
        with contextlib.suppress(ControlSocketError):
            if path.exists() and send_command(path, "help", timeout=2, who="test").ok:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listened on {path} within {timeout:g} s")


@contextlib.contextmanager
def simulated_session(speed: float = 20.0) -> Iterator[Session]:
    """`cleanup-manager simulate` (built-in scenario, active mode) serving its control socket."""
    # A short path under /tmp: Unix socket paths are limited to about 100 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix="ocm-tui-", dir="/tmp"))
    log = (data_dir / "simulate.out").open("wb")
    process = subprocess.Popen(
        [*PROGRAM, "simulate", "--speed", str(speed), "--quiet", "--set", f"data_dir={data_dir}",
         "--set", f"simulation_dir={data_dir / RUNS}", "--set", "metrics_port=0"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_socket(data_dir / "control.sock", process)
        yield Session(process, data_dir)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:g} s")


# --- canned data for deterministic snapshots ------------------------------------------------------
CANNED_NOW = datetime(2026, 11, 25, 15, 31, 15, tzinfo=EASTERN)


def canned_status() -> dict[str, Any]:
    """A T-30 moment of the seed's example: one long call and one short put in the money, a stop working."""
    def position(contract: str, quantity: int, moneyness: float, p_itm: float, risk: str, action: str,
                 closes_at: str | None):
        return {"contract": contract, "quantity": quantity, "underlying": "SPY", "spot": 629.93, "moneyness": moneyness,
                "probability_itm": p_itm, "risk": risk, "action": action, "closes_at": closes_at}

    return {
        "mode": "active", "now": CANNED_NOW.isoformat(), "stage": "T-30", "minutes_to_close": 28.75,
        "close": "2026-11-25T16:00:00-05:00", "kill_switch": False, "breaker_tripped": False,
        "trading_halted": False, "broker_connected": True, "price_source": "thetadata", "quote_age_seconds": 0.4,
        "positions": 4,
        "positions_at_risk": [
            position("SPY 20261125 635P", -2, 0.008, 0.74, "HIGH", "warn", "T-5"),
            position("SPY 20261125 630C", 1, 0.0135, 0.97, "MEDIUM", "warn", "T-5"),
            position("SPY 20261125 638C", 3, -0.012, 0.08, "LOW", "warn", None),
            position("SPY 20261125 650C", 1, -0.0323, 0.0, "LOW", "none", None),
        ],
        "audit_backlog": 0, "restarts": {},
        "thresholds": {"t30_moneyness": 0.02, "t5_moneyness": 0.01, "t2_moneyness": 0.005, "max_slippage": 0.1},
        "symbol": "SPY", "spot": 629.93, "spots": {"SPY": 629.93}, "spot_ages_seconds": {"SPY": 0.4}, "unwatched": [],
        "trader_tz": "Asia/Hong_Kong",
        "stage_times": {"T-30": "2026-11-25T15:30:00-05:00", "T-5": "2026-11-25T15:55:00-05:00",
                        "T-2": "2026-11-25T15:58:00-05:00", "CLOSED": "2026-11-25T16:00:00-05:00"},
        "working_orders": [{"order_id": "7", "contract": "SPY 20261125 635P", "side": "BUY", "type": "STP",
                            "quantity": 2, "filled": 0, "limit": None, "stop": 4.5, "cleanup": False}],
    }


def canned_spread() -> StructureAssessment:
    """The short 635P with a long 632P under it (a put credit spread), both in the money at 629.93 at T-30:
    nothing of it to close yet."""
    long, short = (Leg(OptionContract.parse_key(f"SPY 20261125 {strike}P"), quantity)
                   for strike, quantity in ((632, 2), (635, -2)))
    spread = Structure(StructureKind.VERTICAL, (long, short))
    low, high = 627.60, 632.25
    fewest, most = spread.delivery_between(low, high)
    plan = StructurePlan(spread, (), (), combo=False, left_alone=False, reason="no leg at risk")
    return StructureAssessment(spread, spread.delivery_profile(), 629.93, spread.delivery(629.93), low, high,
                               fewest, most, plan)


def canned_spread_status() -> dict[str, Any]:
    """The canned status with a long 632P making the short 635P a vertical."""
    status = canned_status()
    status["positions_at_risk"] = [*status["positions_at_risk"], {
        "contract": "SPY 20261125 632P", "quantity": 2, "underlying": "SPY", "spot": 629.93, "moneyness": 0.0033,
        "probability_itm": 0.83, "risk": "LOW", "action": "warn", "closes_at": "T-5"}]
    status["positions"] = len(status["positions_at_risk"])
    status["structures"] = [structure_status(canned_spread())]
    return status


def canned_history() -> list[ActionRecord]:
    def at(hour: int, minute: int, second: int = 0) -> datetime:
        return datetime(2026, 11, 24, hour, minute, second, tzinfo=EASTERN)

    expiry = date(2026, 11, 24)
    return [
        ActionRecord("a1", at(15, 30), ActionKind.WARN, "SPY", 600.0, expiry, "C", 2, stage="T-30",
                     reason="moneyness +0.40% above -2.00% at T-30", moneyness=0.004, success=True),
        ActionRecord("a2", at(15, 55), ActionKind.CLOSE, "SPY", 600.0, expiry, "C", 2, stage="T-5",
                     reason="in the money at T-5", success=True),
        ActionRecord("a3", at(15, 55, 4), ActionKind.FILL, "SPY", 600.0, expiry, "C", 2, stage="T-5",
                     execution_price=2.41, slippage=0.02, pnl_impact=-4.0, success=True),
        ActionRecord("a4", at(15, 58), ActionKind.REJECT, "SPY", 598.0, expiry, "P", -1, stage="T-2",
                     error="order rejected: no liquidity", success=False),
        ActionRecord("a5", at(15, 58, 3), ActionKind.FILL, "SPY", 598.0, expiry, "P", 1, stage="T-2",
                     execution_price=0.35, slippage=0.05, pnl_impact=-5.0, success=True),
        ActionRecord("a6", at(16, 1), ActionKind.COMMAND, reason="socket root(uid 0) as tui: status -> accepted",
                     success=True, details={"command": "status"}),
    ]


def canned_morning_history() -> list[ActionRecord]:
    """The morning after the 2026-11-25 expiration: an assigned put's 200 shares found and sold at the open."""
    def at(hour: int, minute: int, second: int = 0) -> datetime:
        return datetime(2026, 11, 27, hour, minute, second, tzinfo=EASTERN)

    expiry = date(2026, 11, 25)
    ref = "CLN-20261125-SPY-STK-DISPOSE"
    return [
        ActionRecord("m1", at(4, 0, 2), ActionKind.SETTLEMENT, "SPY", 645.0, expiry, "P", -2, stage="morning",
                     reason="SPY 20261125 645P: assigned overnight (SPY 641.00 at the close)"),
        ActionRecord("m2", at(4, 0, 2), ActionKind.DELIVERY, "SPY", quantity=200, stage="morning", reference_mid=641.0,
                     reason="+200 SPY shares from the 2026-11-25 expiration",
                     details={"exposure": 128200.0, "margin": 64100.0}),
        ActionRecord("m3", at(4, 0, 2), ActionKind.MORNING_CHECK, stage="morning", success=True,
                     reason="2026-11-25 expiration delivered +200 SPY: exposure $128,200, margin $64,100 "
                            "(Reg T initial, 50% of the value)"),
        ActionRecord("m4", at(9, 30), ActionKind.DISPOSAL, "SPY", quantity=-200, stage="morning", order_ref=ref,
                     reason="SELL 200 SPY limit 640.99: shares the 2026-11-25 expiration delivered"),
        ActionRecord("m5", at(9, 30, 2), ActionKind.DISPOSAL, "SPY", quantity=-200, stage="morning", order_ref=ref,
                     execution_price=640.99, success=True, reason="SELL 200 SPY filled at 640.99"),
    ]


def canned_replies() -> dict[str, CommandReply]:
    return {"set t2_moneyness 0.5": CommandReply(False, "config error: t2_moneyness='0.5' (from command): must be "
                                                 "a fraction in (0, 0.2], e.g. 0.01 for 1%")}

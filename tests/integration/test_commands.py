"""The one command path: parsing (pure) and the handler against a desk with real state."""

from __future__ import annotations

import pytest

from domain.audit import ActionKind
from domain.commands import CommandError, CommandName, CommandReply, format_status, parse_command
from domain.mode import Mode
from runtime.commands import CommandHandler
from tests.support.commands import Desk


@pytest.mark.parametrize(("text", "name"), [
    ("status", CommandName.STATUS), ("  STATUS ", CommandName.STATUS), ("/status", CommandName.STATUS),
    ("/status@CleanupBot", CommandName.STATUS), ("kill", CommandName.KILL), ("resume", CommandName.RESUME),
    ("help", CommandName.HELP),
])
def test_simple_commands_parse(text, name):
    assert parse_command(text).name is name


def test_mode_and_close_and_set_parse_their_arguments():
    assert parse_command("mode Emergency").mode is Mode.EMERGENCY
    assert parse_command("close SPY 2026-11-27 635 C").contract.key == "SPY 20261127 635C"
    assert parse_command("close spy 20261127 635.5p").contract.key == "SPY 20261127 635.5P"
    command = parse_command("set t5 0.008")
    assert (command.key, command.value) == ("t5_moneyness", "0.008")
    assert parse_command("set max_slippage 0.05").key == "max_slippage"


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty"), ("sell everything", "unknown command"), ("mode", "usage: mode"),
    ("mode yolo", "unknown mode 'yolo'"), ("kill now", "takes no arguments"), ("close", "usage: close"),
    ("close SPY tomorrow 635C", "contract must look like"), ("set t5", "usage: set"),
    ("set ib_port 4001", "cannot be changed at run time"), ("set mode active", "cannot be changed"),
    ("close SPY 20261127 -635C", "contract must look like"), ("close SPY 20261127 nanC", "contract must look like"),
    ("close SPY 20261127 1e400C", "contract must look like"), ("close SPY 20261127 infC", "contract must look like"),
    ("close SPY 20261127 0C", "the strike must be above 0"), ("close SPY 20261127 0.00 C", "must be above 0"),
    ("close SPY 20261131 635C", "2026-11-31 is not a date"), ("close SPY 20261127 6_35C", "contract must look like"),
])
def test_bad_commands_explain_themselves(text, says):
    with pytest.raises(CommandError, match=says):
        parse_command(text)


@pytest.fixture
def handler(desk, audit):
    return CommandHandler(desk, audit, desk.clock)


def test_status_reports_mode_time_to_close_and_positions_at_risk(handler):
    reply = handler.handle("status", "alice", "test")
    assert reply.ok
    assert reply.data["mode"] == "active" and reply.data["stage"] == "T-30"
    assert "time to close: 20.0 min (close 13:00 ET)" in reply.text
    assert "positions at risk: 2 of 4" in reply.text
    assert "SPY 20261127 635C qty 3" in reply.text and "660C" not in reply.text


def test_emergency_mode_closes_every_expiring_position_and_is_audited(handler, desk, audit):
    reply = handler.handle("mode emergency", "alice", "socket")
    assert reply == CommandReply(True, "mode is now emergency", {"mode": "emergency"})
    assert desk.mode is Mode.EMERGENCY
    assert desk.expiring_open() == {}
    assert desk.positions["SPY 20261204 640C"] == 5  # next week's contract is not today's business
    [record] = audit
    assert record.action is ActionKind.COMMAND and record.success is True
    assert record.reason == "socket alice: mode emergency -> accepted"
    assert record.at == desk.clock.now()


def test_kill_blocks_a_manual_close_and_resume_allows_it(handler, desk, audit):
    assert handler.handle("kill", "bob", "telegram").ok and desk.killed
    refused = handler.handle("close SPY 20261127 635C", "bob", "telegram")
    assert not refused.ok and "kill switch is on" in refused.text
    assert desk.positions["SPY 20261127 635C"] == 3
    assert handler.handle("resume", "bob", "telegram").ok and not desk.killed
    closed = handler.handle("close SPY 2026-11-27 635 C", "bob", "telegram")
    assert closed.ok and closed.text == "closing 3 SPY 20261127 635C"
    assert desk.positions["SPY 20261127 635C"] == 0
    assert audit.reasons()[1].endswith("-> refused: close failed: kill switch is on: no orders")
    assert audit[-1].symbol == "SPY" and audit[-1].strike == 635.0 and audit[-1].right == "C"


def test_set_changes_a_threshold_through_configuration_validation(handler, desk):
    reply = handler.handle("set t5 0.008", "alice", "socket")
    assert reply.ok and reply.text == "t5_moneyness: 0.01 -> 0.008"
    assert desk.settings().t5_moneyness == 0.008


@pytest.mark.parametrize(("text", "explains"), [
    ("set t5 abc", "t5_moneyness='abc'"),
    ("set t2 0.5", "must be a fraction in (0, 0.2]"),
    ("set t2 0.015", "must not exceed t5_moneyness"),  # thresholds narrow toward the close
    ("set max_slippage -1", "must be dollars per share"),
    ("set t5 nan", "t5_moneyness='nan' (from command): must be a fraction in (0, 0.2]"),
    ("set t30 inf", "t30_moneyness='inf' (from command): must be a fraction"),
    ("set t2 -inf", "t2_moneyness='-inf' (from command)"),
    ("set max_slippage 1e400", "max_slippage='1e400' (from command): must be dollars per share in (0, 5]"),
    ("set slippage NaN", "max_slippage='NaN' (from command)"),
])
def test_set_refuses_invalid_values_and_keeps_the_settings(handler, desk, audit, text, explains):
    before = desk.settings()
    reply = handler.handle(text, "alice", "socket")
    assert not reply.ok and explains in reply.text
    assert desk.settings() is before
    assert audit[-1].success is False and explains in audit[-1].reason


def test_unparseable_command_is_refused_and_audited(handler, desk, audit):
    reply = handler.handle("mode yolo", "mallory", "telegram")
    assert not reply.ok and "unknown mode" in reply.text
    assert desk.mode is Mode.ACTIVE
    assert audit.reasons() == ["telegram mallory: mode yolo -> refused: unknown mode 'yolo'; "
                               "use mode monitor|active|emergency"]


def test_audit_reason_is_one_line_even_for_hostile_text(handler, audit):
    handler.handle("status\nmode emergency", "eve\nadmin", "socket")
    assert "\n" not in audit[-1].reason


def test_a_failing_audit_sink_does_not_hide_the_outcome(desk):
    def broken(record):
        raise OSError("disk full")

    reply = CommandHandler(desk, broken, desk.clock).handle("kill", "alice", "socket")
    assert reply.ok and desk.killed


def test_format_status_tolerates_a_sparse_dict():
    assert format_status({}) == "mode: unknown\ntime to close: unknown\npositions at risk: 0"
    text = format_status({"mode": "monitor", "minutes_to_close": 95, "kill_switch": True})
    assert text.splitlines()[:2] == ["mode: monitor | KILL SWITCH ON", "time to close: 1 h 35 min"]


def test_format_status_shows_an_iso_close_in_exchange_time_and_skips_positions_not_at_risk():
    text = format_status({
        "mode": "active", "minutes_to_close": 4.5, "close": "2026-11-27T18:00:00+00:00", "positions": 2,
        "positions_at_risk": [
            {"contract": "SPY 20261127 635C", "quantity": 3, "moneyness": 0.004, "action": "close"},
            {"contract": "SPY 20261127 700C", "quantity": 1, "moneyness": -0.09, "action": "none"},
            {"contract": "IWM 20261127 222P", "quantity": -2, "moneyness": 0.009, "action": "close",
             "underlying": "IWM", "spot": 220.0},
        ]})
    assert text.splitlines() == [
        "mode: active", "time to close: 4.5 min (close 13:00 ET)", "positions at risk: 2 of 2",
        "  SPY 20261127 635C qty 3 moneyness +0.40% -> close",
        "  IWM 20261127 222P qty -2 moneyness +0.90% (IWM 220.00) -> close"]


def test_format_status_lists_each_structure_with_its_legs_delivery_reach_and_plan():
    from tests.support.tui import canned_spread_status

    lines = format_status(canned_spread_status()).splitlines()
    assert lines[-6:] == [
        "multi-leg structures: 1",
        "  vertical SPY 20261125 +2 632P / -2 635P",
        "    legs: +2 SPY 20261125 632P (long), -2 SPY 20261125 635P (short)",
        "    delivery: below 632: +0; 632-635: +200; above 635: +0",
        "    now: +0 shares at 629.93; by 17:30 ET 627.60-632.25: +0 to +200 shares",
        "    plan: watch: no leg at risk"]
    sparse = format_status({"structures": [{"name": "vertical SPY 20261125 +1 600C / -1 605C"}]}).splitlines()
    assert sparse[-4:] == ["    legs: ?", "    delivery: n/a", "    now: no fresh price; by 17:30 ET n/a",
                           "    plan: ?"]


def test_successful_reads_are_not_stored_but_refusals_and_changes_are():
    from datetime import UTC, datetime

    from runtime.clock import VirtualClock
    from runtime.commands import CommandHandler

    stored = []
    clock = VirtualClock(datetime(2026, 11, 25, 20, tzinfo=UTC))
    handler = CommandHandler(Desk(clock), stored.append, clock)
    assert handler.handle("status", "alice", "socket").ok
    assert stored == []
    handler.handle("set t5 0.9", "alice", "socket")
    handler.handle("kill", "alice", "socket")
    assert [r.success for r in stored] == [False, True]

"""The control commands every surface accepts (Telegram, `ctl`, the terminal UI): parsing and wording.

Pure: text in, a Command (or a CommandError saying what is wrong) out. Executing a command is
runtime.commands.CommandHandler's job; both the Telegram listener and the socket pass text through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from domain.mode import Mode
from domain.model import OptionContract
from domain.session import EASTERN
from domain.structure_view import structure_lines


class CommandName(StrEnum):
    STATUS = "status"
    MODE = "mode"
    KILL = "kill"
    RESUME = "resume"
    CLOSE = "close"
    SET = "set"
    HELP = "help"


# Only the thresholds and the slippage cap may change while running; anything else (broker,
# database, mode via `set`) needs a restart or its own command. Short names are what a tired
# trader types on a phone.
SETTABLE_KEYS = {
    "t30": "t30_moneyness",
    "t5": "t5_moneyness",
    "t2": "t2_moneyness",
    "t30_moneyness": "t30_moneyness",
    "t5_moneyness": "t5_moneyness",
    "t2_moneyness": "t2_moneyness",
    "max_slippage": "max_slippage",
    "slippage": "max_slippage",
}

# Short lines: this is read on a phone as often as in a terminal.
HELP_TEXT = """Commands:
status - mode, time to the close, positions at risk
mode monitor|active|emergency - monitor never trades; active trades by the policy; \
emergency closes every expiring position now
kill - stop all automated trading at once
resume - release the kill switch, reset the circuit breaker
close CONTRACT - close one position now, e.g. close SPY 20261127 635C
set KEY VALUE - t30, t5, t2 (moneyness fraction, e.g. 0.01) or max_slippage (dollars)
help - this text"""


class CommandError(ValueError):
    """The text is not a valid command; the message says what would be."""


@dataclass(frozen=True)
class Command:
    name: CommandName
    mode: Mode | None = None
    contract: OptionContract | None = None
    key: str | None = None  # the full settings key for `set`
    value: str | None = None  # validated later, like configuration, by settings_with


def verb_of(word: str) -> str:
    """The command word: Telegram-style "/status" and "/status@SomeBot" are the same as "status"."""
    return word.lstrip("/").split("@", 1)[0].lower()


def parse_command(text: str) -> Command:
    words = text.strip().split()
    if not words:
        raise CommandError("empty command; try 'help'")
    verb = verb_of(words[0])
    args = words[1:]
    try:
        name = CommandName(verb)
    except ValueError:
        raise CommandError(f"unknown command {words[0]!r}; try 'help'") from None
    if name in (CommandName.STATUS, CommandName.KILL, CommandName.RESUME, CommandName.HELP):
        if args:
            raise CommandError(f"'{name}' takes no arguments")
        return Command(name)
    if name is CommandName.MODE:
        choices = "|".join(m.value for m in Mode)
        if len(args) != 1:
            raise CommandError(f"usage: mode {choices}")
        try:
            return Command(name, mode=Mode(args[0].lower()))
        except ValueError:
            raise CommandError(f"unknown mode {args[0]!r}; use mode {choices}") from None
    if name is CommandName.CLOSE:
        if not args:
            raise CommandError("usage: close CONTRACT, e.g. close SPY 20261127 635C")
        try:
            return Command(name, contract=OptionContract.parse_key(" ".join(args)))
        except ValueError as error:
            raise CommandError(str(error)) from None
    # set
    if len(args) != 2:
        raise CommandError("usage: set KEY VALUE, e.g. set t5 0.008; keys: t30, t5, t2, max_slippage")
    key = SETTABLE_KEYS.get(args[0].lower())
    if key is None:
        raise CommandError(f"{args[0]!r} cannot be changed at run time; settable: t30, t5, t2 (moneyness "
                           "thresholds) and max_slippage")
    return Command(name, key=key, value=args[1])


def _minutes(value: Any) -> str:
    if not isinstance(value, int | float):
        return "unknown"
    if value <= 0:
        return "closed"
    hours, minutes = divmod(int(value), 60)
    return f"{hours} h {minutes} min" if hours else f"{value:.1f} min"


def _close_text(value: Any) -> str:
    """An ISO instant is shown as exchange time (``13:00 ET``); anything else as given."""
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if instant.tzinfo is None:
        return str(value)
    return f"{instant.astimezone(EASTERN):%H:%M} ET"


def format_status(data: Mapping[str, Any]) -> str:
    """Human-readable status from a target's status() dict; tolerant of missing keys.

    Keys read: mode, stage, minutes_to_close, close (ISO instant or text), kill_switch, breaker_tripped,
    positions_at_risk (list of {contract, quantity, moneyness, action}, with the underlying and spot it was
    judged on when known), positions (count), structures (list of domain.structure_view.structure_status
    entries: the multi-leg structures with their legs, delivery and plan), assessor_answered (False: the
    positions are not known at this instant).
    """
    lines = [f"mode: {data.get('mode', 'unknown')}"
             + (" | KILL SWITCH ON" if data.get("kill_switch") else "")
             + (" | BREAKER TRIPPED" if data.get("breaker_tripped") else "")]
    close = f" (close {_close_text(data['close'])})" if data.get("close") else ""
    lines.append(f"time to close: {_minutes(data.get('minutes_to_close'))}{close}"
                 + (f" | stage {data['stage']}" if data.get("stage") else ""))
    # Assessments whose action is "none" are watched, not at risk.
    at_risk = [item for item in data.get("positions_at_risk") or [] if item.get("action") != "none"]
    total = data.get("positions")
    if data.get("assessor_answered") is False:
        lines.append("positions: not known now (the risk assessor is restarting or too busy to answer): ask again")
    else:
        lines.append(f"positions at risk: {len(at_risk)}" + (f" of {total}" if total is not None else ""))
    for item in at_risk:
        moneyness = item.get("moneyness")
        shown = f"{moneyness:+.2%}" if isinstance(moneyness, int | float) else "n/a"
        spot = item.get("spot")
        on = f" ({item.get('underlying', '?')} {spot:.2f})" if isinstance(spot, int | float) else ""
        action = f" -> {item['action']}" if item.get("action") else ""
        lines.append(f"  {item.get('contract', '?')} qty {item.get('quantity', '?')} moneyness {shown}{on}{action}")
    lines.extend(structure_lines(data.get("structures") or []))
    return "\n".join(lines)


@dataclass(frozen=True)
class CommandReply:
    ok: bool
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "text": self.text, "data": self.data}

    @classmethod
    def from_json_dict(cls, raw: dict[str, Any]) -> CommandReply:
        return cls(bool(raw.get("ok")), str(raw.get("text", "")), dict(raw.get("data") or {}))


class CommandDesk(Protocol):
    """What a command surface (Telegram, the control socket) needs: runtime.commands.CommandHandler."""

    def handle(self, text: str, who: str, via: str, identity: Mapping[str, Any] | None = None) -> CommandReply: ...

    def refuse(self, text: str, who: str, via: str, why: str,
               identity: Mapping[str, Any] | None = None) -> CommandReply: ...

    def record(self, text: str, who: str, via: str, accepted: bool, why: str = "",
               command: Command | None = None, identity: Mapping[str, Any] | None = None) -> None: ...

"""The one command path: every control surface (Telegram, the control socket, the terminal UI) calls
CommandHandler.handle, so every command is parsed, checked and audited the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from config.schema import ConfigError, Settings, settings_with
from domain.audit import ActionKind, ActionRecord, new_action_id
from domain.clock import Clock
from domain.commands import (
    HELP_TEXT,
    Command,
    CommandError,
    CommandName,
    CommandReply,
    format_status,
    parse_command,
)
from domain.mode import Mode

log = logging.getLogger(__name__)

MAX_AUDITED_TEXT = 200
MAX_WHO_TEXT = 120
# Successful reads are logged, not stored; refused ones and every change are audited.
READ_ONLY = frozenset({CommandName.STATUS, CommandName.HELP})


class CommandTarget(Protocol):
    """What the running service exposes to the commands (implemented by the supervisor side).

    status() returns plain JSON-able data; format_status reads mode, stage, minutes_to_close, close,
    kill_switch, breaker_tripped, positions (count) and positions_at_risk (list of dicts with
    contract, quantity, moneyness, action, and the underlying and spot it was judged on). Methods raise
    ValueError (or any Exception) with a one-line message to refuse; the message is shown to the person
    and audited.
    """

    def status(self) -> dict[str, Any]: ...

    def set_mode(self, mode: Mode) -> None: ...

    def kill(self) -> None: ...

    def resume(self) -> None:
        """Release the kill switch and reset a tripped circuit breaker."""

    def close(self, contract_key: str) -> str:
        """Close one position now; return what was done (e.g. 'closing 3 SPY 20261127 635C')."""

    def settings(self) -> Settings: ...

    def apply_settings(self, new: Settings) -> None: ...


def _one_line(text: str, limit: int = MAX_AUDITED_TEXT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class CommandHandler:
    def __init__(self, target: CommandTarget, audit: Callable[[ActionRecord], None], clock: Clock) -> None:
        self.target = target
        self.audit = audit
        self.clock = clock

    def handle(self, text: str, who: str, via: str, identity: Mapping[str, Any] | None = None) -> CommandReply:
        """Parse, execute and audit one command. ``who`` is a one-line label for the sender;
        ``identity`` holds what the surface knows of it (peer uid/gid/pid, chat and user ids) for the
        audit record's details."""
        try:
            command = parse_command(text)
        except CommandError as error:
            return self.refuse(text, who, via, str(error), identity)
        try:
            reply = self._execute(command)
        except ConfigError as error:
            reply = CommandReply(False, str(error))
        except Exception as error:  # the target refused or failed: the person must hear why
            log.warning("command %r from %s via %s failed: %s", _one_line(text), who, via, error)
            reply = CommandReply(False, f"{command.name} failed: {_one_line(str(error) or type(error).__name__)}")
        if reply.ok and command.name in READ_ONLY:
            # A terminal UI reads status every second: a store row per read would bury the actions.
            log.debug("%s %s: %s -> accepted", via, who, _one_line(text))
        else:
            self.record(text, who, via, reply.ok, "" if reply.ok else reply.text, command, identity)
        return reply

    def refuse(self, text: str, who: str, via: str, why: str,
               identity: Mapping[str, Any] | None = None) -> CommandReply:
        """Refuse without executing (bad syntax, unknown sender, wrong code); audited like any command."""
        self.record(text, who, via, False, why, identity=identity)
        return CommandReply(False, why)

    def record(self, text: str, who: str, via: str, accepted: bool, why: str = "",
               command: Command | None = None, identity: Mapping[str, Any] | None = None) -> None:
        """Audit one command decision; surfaces use it for steps of their own (e.g. an emergency code sent)."""
        outcome = "accepted" if accepted else "refused"
        if why:
            outcome += f": {_one_line(why)}"
        contract = command.contract if command else None
        record = ActionRecord(
            action_id=new_action_id(),
            at=self.clock.now(),
            action=ActionKind.COMMAND,
            symbol=contract.symbol if contract else "",
            strike=contract.strike if contract else None,
            expiry=contract.expiry if contract else None,
            right=contract.right.value if contract else None,
            reason=f"{via} {_one_line(who, MAX_WHO_TEXT)}: {_one_line(text)} -> {outcome}",
            success=accepted,
            details={"via": via, "who": who, **(identity or {}), "command": _one_line(text), "accepted": accepted,
                     "why": why},
        )
        try:
            self.audit(record)
        except Exception:
            # The command already took effect; losing its audit line must not hide that from the person.
            log.exception("could not audit command %r from %s via %s", _one_line(text), who, via)

    def _execute(self, command: Command) -> CommandReply:
        target = self.target
        if command.name is CommandName.HELP:
            return CommandReply(True, HELP_TEXT)
        if command.name is CommandName.STATUS:
            data = target.status()
            return CommandReply(True, format_status(data), data)
        if command.name is CommandName.MODE:
            assert command.mode is not None
            target.set_mode(command.mode)
            return CommandReply(True, f"mode is now {command.mode.value}", {"mode": command.mode.value})
        if command.name is CommandName.KILL:
            target.kill()
            return CommandReply(True, "kill switch engaged: no automated orders until 'resume'")
        if command.name is CommandName.RESUME:
            target.resume()
            return CommandReply(True, "resumed: kill switch released, circuit breaker reset")
        if command.name is CommandName.CLOSE:
            assert command.contract is not None
            done = target.close(command.contract.key)
            return CommandReply(True, done or f"closing {command.contract.key}", {"contract": command.contract.key})
        assert command.name is CommandName.SET and command.key is not None and command.value is not None
        current = target.settings()
        before = getattr(current, command.key)
        new = settings_with(current, **{command.key: command.value})  # raises ConfigError, one line
        target.apply_settings(new)
        after = getattr(new, command.key)
        return CommandReply(True, f"{command.key}: {before:g} -> {after:g}",
                            {"key": command.key, "old": before, "new": after})

"""Who may command the service over Telegram, and how much a stranger can cost us. Pure: no I/O.

A message is obeyed only when its chat is on ``telegram_allowed_chats`` *and* its sender on
``telegram_allowed_users``: an allowed user in someone else's group is not obeyed (the reply would
post the account's status there), and a stranger in an allowed group is not either.

Refusals are rate-limited: per window, one answer (a reply and an audit row) per stranger in a chat,
and at most ``per_window`` answers in all; what is silenced is counted and the next answer says how
many, so the audit stays truthful without a row per message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Sender:
    """Where a message came from, as Telegram's update says (the username is the sender's own choice)."""

    chat_id: int
    user_id: int | None  # None for channel posts: no person to allow
    username: str = ""

    def label(self) -> str:
        return f"chat {self.chat_id} user {self.user_id}" + (f" @{self.username}" if self.username else "")

    def identity(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "user_id": self.user_id, "username": self.username}


class TelegramAccess:
    def __init__(self, chats: Iterable[int], users: Iterable[int]) -> None:
        self.chats = frozenset(chats)
        self.users = frozenset(users)

    def refusal(self, sender: Sender) -> str | None:
        """None when the sender may command; otherwise why not, naming the setting to change."""
        missing = []
        if sender.chat_id not in self.chats:
            missing.append(f"chat {sender.chat_id} is not on telegram_allowed_chats")
        if sender.user_id not in self.users:
            missing.append(f"user {sender.user_id} is not on telegram_allowed_users")
        return "; ".join(missing) or None


class StrangerThrottle:
    def __init__(self, window_seconds: float = 600.0, per_window: int = 20) -> None:
        self.window = timedelta(seconds=window_seconds)
        self.per_window = per_window
        self._answered: dict[tuple[int, int | None], datetime] = {}
        self._silenced = 0

    def admit(self, sender: Sender, now: datetime) -> int | None:
        """None: stay silent (counted). Otherwise answer this refusal; the number is how many refusals
        were silenced since the last answered one."""
        self._answered = {key: at for key, at in self._answered.items() if now - at < self.window}
        key = (sender.chat_id, sender.user_id)
        if key in self._answered or len(self._answered) >= self.per_window:
            self._silenced += 1
            return None
        self._answered[key] = now
        silenced, self._silenced = self._silenced, 0
        return silenced

"""Commands from the trader's Telegram chat: long-polls the Bot API and passes text to the CommandHandler.

Safety rules:
- Only an allowed user in an allowed chat is obeyed (gateways/telegram_access.py). Anything else is
  refused (the reply names only the sender's own chat and user ids, for setting up the allowlists)
  and audited, once per stranger per window: a flood costs one row and one reply, not one each.
- ``/emergency`` (and ``/mode emergency``) answers with a one-time code bound to the chat and the user
  who asked; ``/confirm CODE`` from that user in that chat within ``confirm_seconds`` (Clock time)
  switches to emergency mode. One try per code; another member's ``/confirm`` neither uses nor burns it.
- Messages older than ``max_message_age_seconds`` are not executed: after a restart Telegram
  re-delivers unconfirmed updates, and an hours-old ``/kill`` must not fire now.
- The bot token is in every request URL; it is scrubbed from our log lines and errors and from
  urllib3's and requests' loggers.

Network errors back off exponentially with full jitter (wall time: pacing a network retry is not a
trading decision, and a virtual clock would stall it). The loop runs on its own thread with
start()/stop() and healthy() for the supervisor.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests

from domain.clock import Clock
from domain.commands import CommandDesk, verb_of
from gateways.apprise_channels import install_redaction
from gateways.telegram_access import Sender, StrangerThrottle, TelegramAccess

log = logging.getLogger(__name__)

VIA = "telegram"
MAX_MESSAGE_CHARS = 4000  # Telegram's limit is 4096
STOP_WAIT_SECONDS = 10.0  # for a command in hand (a mode change, a close) to finish when the service stops
# Commands obeyed from Telegram. close/set are left to the local console: a thumb slip on a phone
# should not be able to close a position or move a threshold.
FORWARDED = {"status", "mode", "kill", "resume", "help"}
CONFIRM_AUDITED = "/confirm ******"


class TelegramError(Exception):
    """A Bot API call failed; the message never contains the token."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Pending:
    code: str
    expires: datetime


class TelegramCommandListener:
    def __init__(self, token: str, api_url: str, access: TelegramAccess, handler: CommandDesk,
                 clock: Clock, *, poll_timeout: int = 30, confirm_seconds: float = 60.0,
                 max_message_age_seconds: float = 120.0, backoff_base: float = 1.0, backoff_max: float = 60.0,
                 stranger_window_seconds: float = 600.0, strangers_per_window: int = 20,
                 session: requests.Session | None = None, rng: random.Random | None = None,
                 offset: int | None = None) -> None:
        if not token:
            raise ValueError("telegram_bot_token is not set")
        self._token = token
        self._base = f"{api_url.rstrip('/')}/bot{token}"
        self._redactor = install_redaction([token, self._base], ["urllib3.connectionpool", "requests", __name__])
        self.access = access
        self.strangers = StrangerThrottle(stranger_window_seconds, strangers_per_window)
        self.handler = handler
        self.clock = clock
        self.poll_timeout = poll_timeout
        self.confirm_window = timedelta(seconds=confirm_seconds)
        self.max_message_age = max_message_age_seconds
        self._busy = threading.Lock()  # held while updates are handled: a stop waits for a command in hand
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self._session = session or requests.Session()
        self._rng = rng or random.Random()
        # Carried over by the supervisor when it restarts the listener (``offset`` property), so
        # updates already handled are not handled again.
        self._offset: int | None = offset
        self._pending: dict[tuple[int, int], _Pending] = {}  # by (chat, user): whose code it is
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat = time.monotonic()
        self.consecutive_failures = 0
        self.last_error = ""

    @classmethod
    def from_settings(cls, settings, handler: CommandDesk, clock: Clock, **options: Any) -> TelegramCommandListener:
        access = TelegramAccess(settings.telegram_allowed_chats, settings.telegram_users)
        return cls(settings.secret("telegram_bot_token"), settings.telegram_api_url, access, handler, clock, **options)

    @property
    def offset(self) -> int | None:
        """The next update id to ask for: give it to a replacement listener."""
        return self._offset

    # --- lifecycle
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        if not self.access.chats or not self.access.users:
            log.warning("telegram_allowed_chats or telegram_allowed_users is empty: every Telegram message "
                        "will be refused")
        self._stop.clear()
        self._heartbeat = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="telegram-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_WAIT_SECONDS) -> None:
        """Stop polling: waits up to ``timeout`` for a command in hand to finish, not for an idle long-poll
        (up to ``poll_timeout`` seconds, which would hold up every stop of the service). A poll that returns
        after this hands its updates to nobody: unacknowledged, Telegram delivers them to the next start."""
        self._stop.set()
        if self._busy.acquire(timeout=timeout):
            self._busy.release()
        else:
            log.warning("telegram: a command still running after %g s at stop", timeout)
        if self._thread is not None:
            self._thread.join(0.5)

    def healthy(self) -> bool:
        """Thread alive and its loop turned recently (a long-poll plus the longest backoff)."""
        if self._thread is None or not self._thread.is_alive() or self._stop.is_set():
            return False
        return time.monotonic() - self._heartbeat < self.poll_timeout + self.backoff_max + 30

    def _run(self) -> None:
        while not self._stop.is_set():
            self._heartbeat = time.monotonic()
            try:
                self.poll_once()
            except TelegramError as error:
                self._back_off(error)
            except Exception as error:  # a bug in handling must not end the listener silently
                log.exception("telegram listener error")
                self._back_off(TelegramError(self._redact(f"{type(error).__name__}: {error}")))

    def _back_off(self, error: TelegramError) -> None:
        self.consecutive_failures += 1
        self.last_error = str(error)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** min(self.consecutive_failures - 1, 16))
        delay = max(error.retry_after or 0.0, self._rng.uniform(0, ceiling))
        log.warning("telegram: %s; retry %d in %.1f s", error, self.consecutive_failures, delay)
        self._stop.wait(delay)

    # --- Bot API
    def _call(self, method: str, params: dict[str, Any], read_timeout: float) -> Any:
        try:
            response = self._session.post(f"{self._base}/{method}", json=params, timeout=(10, read_timeout))
        except requests.RequestException as error:
            # requests' messages quote the URL, token included.
            raise TelegramError(self._redact(f"{method}: {type(error).__name__}: {error}")) from None
        try:
            payload = response.json()
        except ValueError:
            raise TelegramError(f"{method}: HTTP {response.status_code}, not a Bot API reply") from None
        if not payload.get("ok"):
            retry_after = (payload.get("parameters") or {}).get("retry_after")
            description = self._redact(str(payload.get("description", "")))
            if response.status_code == 401:
                description += " (check telegram_bot_token)"
            raise TelegramError(f"{method}: HTTP {response.status_code} {description}", retry_after)
        return payload.get("result")

    def send_message(self, chat_id: int, text: str) -> None:
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[: MAX_MESSAGE_CHARS - 20] + "\n... (truncated)"
        try:
            self._call("sendMessage", {"chat_id": chat_id, "text": text}, 15)
        except TelegramError as error:
            # The command already ran and is audited; a lost reply is logged, not retried forever.
            log.warning("telegram: could not reply to chat %s: %s", chat_id, error)

    def poll_once(self) -> int:
        """One getUpdates round (long-poll); handles each update and returns how many there were."""
        params: dict[str, Any] = {"timeout": self.poll_timeout, "allowed_updates": ["message"]}
        if self._offset is not None:
            params["offset"] = self._offset
        updates = self._call("getUpdates", params, self.poll_timeout + 15) or []
        self.consecutive_failures = 0
        with self._busy:
            for update in updates:
                if self._stop.is_set():
                    break  # left unacknowledged for the next start: the service behind us is stopping
                # Advance first: a message that crashes its handling must not be re-delivered forever.
                self._offset = int(update["update_id"]) + 1
                try:
                    self._on_update(update)
                except Exception:
                    log.exception("telegram: could not handle update %s", update.get("update_id"))
        return len(updates)

    # --- commands
    def _on_update(self, update: dict[str, Any]) -> None:
        message = update.get("message") or {}
        text = message.get("text")
        chat_id = (message.get("chat") or {}).get("id")
        if not isinstance(text, str) or not isinstance(chat_id, int):
            return  # photos, joins, edits: nothing to obey
        user = message.get("from") or {}
        sender = Sender(chat_id, user.get("id") if isinstance(user.get("id"), int) else None,
                        str(user.get("username") or ""))
        refusal = self.access.refusal(sender)
        if refusal is not None:
            self._refuse_stranger(text, sender, refusal)
            return
        sent_at = message.get("date")
        age = self.clock.now().timestamp() - sent_at if isinstance(sent_at, int | float) else 0.0
        if age > self.max_message_age:
            self.handler.refuse(_audited(text), sender.label(), VIA, f"message is {age:.0f} s old (limit "
                                f"{self.max_message_age:g} s)", sender.identity())
            self.send_message(chat_id, f"Ignored '{text[:40]}': sent {age:.0f} s ago. Send it again if you still "
                                       "mean it.")
            return
        self.send_message(chat_id, self._command(text.strip(), sender))

    def _refuse_stranger(self, text: str, sender: Sender, refusal: str) -> None:
        silenced = self.strangers.admit(sender, self.clock.now())
        if silenced is None:
            log.debug("telegram: %s refused again within the window, not answered", sender.label())
            return
        if silenced:
            refusal += f" ({silenced} more refused message(s) from strangers were not answered before this one)"
        self.handler.refuse(_audited(text), sender.label(), VIA, refusal, sender.identity())
        self.send_message(sender.chat_id, f"Not authorised. This chat's id is {sender.chat_id} and your user id is "
                                          f"{sender.user_id}; the service owner can add them to "
                                          "telegram_allowed_chats and telegram_allowed_users.")

    def _command(self, text: str, sender: Sender) -> str:
        words = text.split()
        verb = verb_of(words[0]) if words else ""
        args = [w.lower() for w in words[1:]]
        if verb == "start":
            verb = "help"
        if verb == "emergency" or (verb == "mode" and args == ["emergency"]):
            return self._ask_confirmation(text, sender)
        if verb == "confirm":
            return self._confirm(words[1:], sender)
        if verb not in FORWARDED:
            why = f"'{verb or text}' is not available over Telegram; commands: /status /mode /emergency /kill " \
                  "/resume /help"
            return f"Refused: {self.handler.refuse(text, sender.label(), VIA, why, sender.identity()).text}"
        reply = self.handler.handle(" ".join([verb, *words[1:]]), sender.label(), VIA, sender.identity())
        if verb == "help":
            return reply.text + "\n/emergency - close every expiring position now (asks for a code)"
        return reply.text if reply.ok else f"Refused: {reply.text}"

    def _ask_confirmation(self, text: str, sender: Sender) -> str:
        code = f"{secrets.randbelow(10**6):06d}"
        self._pending[self._code_key(sender)] = _Pending(code, self.clock.now() + self.confirm_window)
        self.handler.record(text, sender.label(), VIA, True, "confirmation code sent", identity=sender.identity())
        seconds = self.confirm_window.total_seconds()
        return (f"EMERGENCY: closes every expiring position now. To confirm send\n/confirm {code}\n"
                f"within {seconds:g} seconds.")

    def _confirm(self, args: list[str], sender: Sender) -> str:
        # Only the asker's own code is looked at, so nobody else can use or burn it; one try per code.
        pending = self._pending.pop(self._code_key(sender), None)
        if pending is None:
            why = "no emergency is waiting for your confirmation; send /emergency first"
        elif self.clock.now() > pending.expires:
            why = "the code expired; send /emergency again"
        elif len(args) != 1 or not secrets.compare_digest(args[0], pending.code):
            why = "wrong code; send /emergency again"
        else:
            reply = self.handler.handle("mode emergency", sender.label(), VIA, sender.identity())
            return ("Emergency mode ON: closing every expiring position." if reply.ok
                    else f"Refused: {reply.text}")
        self.handler.refuse(CONFIRM_AUDITED, sender.label(), VIA, why, sender.identity())
        return f"Refused: {why}"

    @staticmethod
    def _code_key(sender: Sender) -> tuple[int, int]:
        assert sender.user_id is not None  # only allowed users get this far, and they have an id
        return (sender.chat_id, sender.user_id)

    def _redact(self, text: str) -> str:
        return self._redactor.redact(text.replace(self._token, "***"))


def _audited(text: str) -> str:
    """The message as the audit keeps it: a confirmation code never (a stranger may quote a real one)."""
    words = text.split()
    return CONFIRM_AUDITED if words and verb_of(words[0]) == "confirm" else text

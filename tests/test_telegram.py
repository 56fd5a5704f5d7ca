"""The Telegram listener against a fake Bot API on 127.0.0.1, driving a desk with real positions."""

from __future__ import annotations

import logging
import re
import socket

import pytest

from domain.policy import Mode
from gateways.telegram import TelegramCommandListener, TelegramError
from runtime.commands import CommandHandler
from tests.fakes.telegram_api import FakeTelegramAPI

TRADER = 4242
STRANGER = 6666
TOKEN = "987654:AAH-secret-token-value"


@pytest.fixture
def api():
    with FakeTelegramAPI(TOKEN) as fake:
        yield fake


def make_listener(api_url, desk, audit, **options):
    handler = CommandHandler(desk, audit, desk.clock)
    options = {"poll_timeout": 1, "backoff_base": 0.01, "backoff_max": 0.05} | options
    return TelegramCommandListener(TOKEN, api_url, [TRADER], handler, desk.clock, **options)


@pytest.fixture
def listener(api, desk, audit):
    made = make_listener(api.url, desk, audit)
    made.start()
    yield made
    made.stop(timeout=5)


def say(api, desk, chat_id, text, user_id=None):
    """Inject a message stamped with the desk's (virtual) time, as Telegram stamps its own."""
    return api.inject_message(chat_id, text, user_id=user_id, date=desk.clock.now().timestamp())


def code_from(reply: str) -> str:
    return re.search(r"/confirm (\d{6})", reply).group(1)


def test_emergency_then_confirm_closes_every_expiring_position(api, desk, audit, listener):
    say(api, desk, TRADER, "/emergency")
    [ask] = api.wait_for_replies(TRADER, 1)
    assert "within 60 seconds" in ask
    assert desk.mode is Mode.ACTIVE and desk.expiring_open()  # nothing happens before the confirmation
    desk.clock.advance(45)
    say(api, desk, TRADER, f"/confirm {code_from(ask)}")
    replies = api.wait_for_replies(TRADER, 2)
    assert replies[1] == "Emergency mode ON: closing every expiring position."
    assert desk.mode is Mode.EMERGENCY
    assert desk.expiring_open() == {}
    assert {key for _, key, _ in desk.closes} == {"SPY 20261127 635C", "SPY 20261127 642P", "SPY 20261127 660C"}
    assert desk.positions["SPY 20261204 640C"] == 5
    reasons = audit.reasons()
    assert reasons[0] == f"telegram chat {TRADER} user {TRADER} @user{TRADER}: /emergency -> accepted: " \
                         "confirmation code sent"
    assert reasons[1].endswith("mode emergency -> accepted")


def test_unknown_chat_changes_nothing_reveals_nothing_and_is_audited(api, desk, audit, listener):
    before = dict(desk.positions)
    say(api, desk, STRANGER, "/emergency")
    say(api, desk, STRANGER, "/status")
    say(api, desk, STRANGER, "/confirm 123456")
    replies = api.wait_for_replies(STRANGER, 3)
    assert len(replies) == 3
    assert all(r.startswith(f"Not authorised. This chat's id is {STRANGER}") for r in replies)
    assert not any("SPY" in r or "mode" in r for r in replies)
    assert desk.mode is Mode.ACTIVE and desk.positions == before and desk.closes == []
    assert [r.success for r in audit] == [False, False, False]
    assert audit.reasons()[0] == (f"telegram chat {STRANGER} user {STRANGER} @user{STRANGER}: /emergency -> "
                                  "refused: sender not on telegram_allowed_chats")


def test_allowed_user_in_a_group_chat_is_obeyed(api, desk, listener):
    api.inject_message(-100200, "/status", user_id=TRADER, date=desk.clock.now().timestamp(), chat_type="group")
    [reply] = api.wait_for_replies(-100200, 1)
    assert reply.startswith("mode: active")


@pytest.mark.parametrize("attempt", ["wrong", "late", "none", "other user"])
def test_wrong_late_missing_or_foreign_code_is_refused(api, desk, audit, attempt):
    listener = make_listener(api.url, desk, audit)
    listener.allowed = frozenset({TRADER, -100200})
    listener.start()
    try:
        chat = -100200 if attempt == "other user" else TRADER
        if attempt != "none":
            say(api, desk, chat, "/emergency", user_id=TRADER)
            [ask] = api.wait_for_replies(chat, 1)
            code = code_from(ask)
        else:
            code = "000000"
        if attempt == "late":
            desk.clock.advance(61)
        if attempt == "wrong":
            code = f"{(int(code) + 1) % 10**6:06d}"
        user = 777 if attempt == "other user" else TRADER
        say(api, desk, chat, f"/confirm {code}", user_id=user)
        replies = api.wait_for_replies(chat, 2 if attempt != "none" else 1)
        assert replies[-1].startswith("Refused:")
        assert desk.mode is Mode.ACTIVE and desk.closes == []
        assert audit[-1].success is False and "/confirm ******" in audit[-1].reason
        assert code not in audit[-1].reason or attempt == "none"
        # The code is single-use: after a refusal even the right code no longer works.
        if attempt in ("wrong", "other user"):
            say(api, desk, chat, f"/confirm {code_from(replies[0])}", user_id=TRADER)
            assert api.wait_for_replies(chat, 3)[-1].startswith("Refused: no emergency is waiting")
            assert desk.mode is Mode.ACTIVE
    finally:
        listener.stop(timeout=5)


def test_status_mode_kill_resume_help(api, desk, listener):
    for text in ("/status", "/mode monitor", "/kill", "/resume", "/help", "/close SPY 20261127 635C"):
        say(api, desk, TRADER, text)
    replies = api.wait_for_replies(TRADER, 6)
    assert replies[0].startswith("mode: active") and "positions at risk: 2 of 4" in replies[0]
    assert replies[1] == "mode is now monitor"
    assert replies[2].startswith("kill switch engaged")
    assert replies[3].startswith("resumed")
    assert "/emergency" in replies[4]
    assert replies[5].startswith("Refused: 'close' is not available over Telegram")
    assert desk.mode is Mode.MONITOR and not desk.killed and desk.positions["SPY 20261127 635C"] == 3


def test_mode_emergency_also_needs_the_code(api, desk, listener):
    say(api, desk, TRADER, "/mode emergency")
    [reply] = api.wait_for_replies(TRADER, 1)
    assert "/confirm" in reply and desk.mode is Mode.ACTIVE


def test_old_messages_redelivered_after_a_restart_are_not_executed(api, desk, audit, listener):
    api.inject_message(TRADER, "/kill", date=desk.clock.now().timestamp() - 3600)
    [reply] = api.wait_for_replies(TRADER, 1)
    assert reply.startswith("Ignored '/kill': sent 3600 s ago")
    assert not desk.killed and audit[-1].success is False


def test_offsets_acknowledge_each_update_once(api, desk, listener):
    first = say(api, desk, TRADER, "/status")
    assert api.wait_until_confirmed(first)
    say(api, desk, TRADER, "/kill")
    assert len(api.wait_for_replies(TRADER, 2)) == 2
    assert api.wait_until_confirmed(first + 1)
    # no update is handled twice: two messages, two replies, however many polls ran since
    assert api.requests.count("getUpdates") >= 3
    assert len(api.replies(TRADER)) == 2


def test_server_errors_back_off_and_recover_and_the_token_never_reaches_the_logs(api, desk, audit, caplog):
    caplog.set_level(logging.DEBUG)
    api.fail_next(3)
    listener = make_listener(api.url, desk, audit)
    listener.start()
    try:
        say(api, desk, TRADER, "/kill")
        assert api.wait_for_replies(TRADER, 1)[0].startswith("kill switch engaged")
        assert desk.killed
        assert "HTTP 502 Bad Gateway" in caplog.text and "retry 3" in caplog.text
        assert listener.healthy() and listener.consecutive_failures == 0
    finally:
        listener.stop(timeout=5)
    assert "/bot" in caplog.text or "getUpdates" in caplog.text  # urllib3 did log the requests...
    assert TOKEN not in caplog.text and "secret-token" not in caplog.text  # ...without the token


def test_unreachable_api_errors_are_redacted(desk, audit, caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    listener = make_listener(f"http://127.0.0.1:{port}", desk, audit)
    with pytest.raises(TelegramError) as raised:
        listener.poll_once()
    assert "ConnectionError" in str(raised.value) and TOKEN not in str(raised.value)
    listener.start()
    try:
        assert _wait(lambda: listener.consecutive_failures >= 2)
        assert listener.healthy()  # still trying: a supervisor need not restart it
    finally:
        listener.stop(timeout=5)
    assert not listener.healthy()
    assert TOKEN not in caplog.text and TOKEN not in listener.last_error


def test_wrong_token_is_reported_without_the_token(api, desk, audit):
    handler = CommandHandler(desk, audit, desk.clock)
    listener = TelegramCommandListener("111:wrong-token-xyz", api.url, [TRADER], handler, desk.clock, poll_timeout=1)
    with pytest.raises(TelegramError, match=r"HTTP 401 Unauthorized \(check telegram_bot_token\)") as raised:
        listener.poll_once()
    assert "wrong-token" not in str(raised.value)


def _wait(condition, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_replacement_listener_continues_from_the_offset(api, desk, audit):
    first = make_listener(api.url, desk, audit)
    say(api, desk, TRADER, "/kill")
    assert first.poll_once() == 1 and desk.killed
    desk.resume()
    # Crashed before acknowledging: a new listener given the old offset does not run /kill again.
    second = make_listener(api.url, desk, audit, offset=first.offset)
    assert second.poll_once() == 0
    assert not desk.killed and len(api.replies(TRADER)) == 1

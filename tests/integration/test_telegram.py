"""The Telegram listener against a fake Bot API on 127.0.0.1, driving a desk with real positions."""

from __future__ import annotations

import logging
import re
import socket
from datetime import timedelta

import pytest

from config import ConfigError, load_settings
from domain.mode import Mode
from gateways.telegram import TelegramCommandListener, TelegramError
from gateways.telegram_access import Sender, StrangerThrottle, TelegramAccess
from runtime.commands import CommandHandler
from tests.fakes.telegram_api import FakeTelegramAPI

TRADER = 4242
PARTNER = 4343  # a second allowed user, in the group only
STRANGER = 6666
GROUP = -100200
TOKEN = "987654:AAH-secret-token-value"


@pytest.fixture
def api():
    with FakeTelegramAPI(TOKEN) as fake:
        yield fake


def make_listener(api_url, desk, audit, chats=(TRADER,), users=(TRADER,), **options):
    handler = CommandHandler(desk, audit, desk.clock)
    options = {"poll_timeout": 1, "backoff_base": 0.01, "backoff_max": 0.05} | options
    return TelegramCommandListener(TOKEN, api_url, TelegramAccess(chats, users), handler, desk.clock, **options)


@pytest.fixture
def group_listener(api, desk, audit):
    """The trader's private chat and a group, where the trader and a partner are obeyed."""
    made = make_listener(api.url, desk, audit, chats=(TRADER, GROUP), users=(TRADER, PARTNER))
    made.start()
    yield made
    made.stop(timeout=5)


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


def test_unknown_chat_changes_nothing_reveals_nothing_and_is_answered_once_per_window(api, desk, audit, listener):
    before = dict(desk.positions)
    say(api, desk, STRANGER, "/emergency")
    say(api, desk, STRANGER, "/status")
    last = say(api, desk, STRANGER, "/confirm 123456")
    assert api.wait_until_confirmed(last)
    [reply] = api.replies(STRANGER)  # one reply for three messages
    assert reply == (f"Not authorised. This chat's id is {STRANGER} and your user id is {STRANGER}; the service "
                     "owner can add them to telegram_allowed_chats and telegram_allowed_users.")
    assert desk.mode is Mode.ACTIVE and desk.positions == before and desk.closes == []
    assert audit.reasons() == [f"telegram chat {STRANGER} user {STRANGER} @user{STRANGER}: /emergency -> refused: "
                               f"chat {STRANGER} is not on telegram_allowed_chats; user {STRANGER} is not on "
                               "telegram_allowed_users"]
    assert audit[0].success is False and audit[0].details["user_id"] == STRANGER
    desk.clock.advance(601)  # the next window: answered again, saying what went unanswered
    say(api, desk, STRANGER, "/kill")
    assert len(api.wait_for_replies(STRANGER, 2)) == 2
    assert audit.reasons()[1].endswith("(2 more refused message(s) from strangers were not answered before this one)")
    assert not desk.killed


def test_an_allowed_user_in_a_foreign_group_is_not_obeyed(api, desk, audit, listener):
    foreign = -100999
    last = api.inject_message(foreign, "/status", user_id=TRADER, date=desk.clock.now().timestamp(),
                              chat_type="group")
    assert api.wait_until_confirmed(last)
    [reply] = api.replies(foreign)
    assert reply.startswith(f"Not authorised. This chat's id is {foreign}") and "mode" not in reply
    assert audit[-1].reason.endswith(f"-> refused: chat {foreign} is not on telegram_allowed_chats")


def test_in_an_allowed_group_only_allowed_users_are_obeyed(api, desk, audit, group_listener):
    group_say(api, desk, STRANGER, "/kill")
    group_say(api, desk, TRADER, "/status")
    first, second = api.wait_for_replies(GROUP, 2)
    assert first.startswith("Not authorised.") and not desk.killed
    assert second.startswith("mode: active")
    assert audit[0].reason.endswith(f"-> refused: user {STRANGER} is not on telegram_allowed_users")


def group_say(api, desk, user_id, text):
    return api.inject_message(GROUP, text, user_id=user_id, date=desk.clock.now().timestamp(), chat_type="group")


def test_a_confirm_code_belongs_to_the_user_who_asked(api, desk, audit, group_listener):
    group_say(api, desk, TRADER, "/emergency")
    [ask] = api.wait_for_replies(GROUP, 1)
    code = code_from(ask)
    group_say(api, desk, PARTNER, f"/confirm {code}")  # another allowed member: cannot use it ...
    group_say(api, desk, STRANGER, f"/confirm {code}")  # ... nor can a stranger in the group
    group_say(api, desk, PARTNER, "/confirm 000000")  # ... and a wrong guess of theirs does not burn it
    replies = api.wait_for_replies(GROUP, 4)
    assert replies[1] == "Refused: no emergency is waiting for your confirmation; send /emergency first"
    assert replies[2].startswith("Not authorised.")
    assert replies[3] == replies[1]
    assert desk.mode is Mode.ACTIVE
    group_say(api, desk, TRADER, f"/confirm {code}")  # ... so the trader's code still works
    assert api.wait_for_replies(GROUP, 5)[4] == "Emergency mode ON: closing every expiring position."
    assert desk.mode is Mode.EMERGENCY
    assert code not in " ".join(audit.reasons())


def test_a_configuration_from_before_telegram_allowed_users_keeps_its_private_chat_users(api, desk, audit):
    settings = load_settings(environ={}, flags={"telegram_bot_token": TOKEN, "telegram_api_url": api.url,
                                                "telegram_allowed_chats": f"{TRADER},{GROUP}"}).settings
    assert settings.telegram_allowed_users == () and settings.telegram_users == (TRADER,)
    listener = TelegramCommandListener.from_settings(settings, CommandHandler(desk, audit, desk.clock), desk.clock,
                                                     poll_timeout=1)
    say(api, desk, TRADER, "/status")
    group_say(api, desk, TRADER, "/status")
    group_say(api, desk, PARTNER, "/kill")  # was obeyed before: a group on the list allowed everyone in it
    assert listener.poll_once() == 3
    assert api.replies(TRADER)[0].startswith("mode: active")
    assert api.replies(GROUP)[0].startswith("mode: active")
    assert api.replies(GROUP)[1].startswith("Not authorised.") and not desk.killed


@pytest.mark.parametrize("attempt", ["wrong", "late", "none"])
def test_wrong_late_or_missing_code_is_refused(api, desk, audit, listener, attempt):
    if attempt != "none":
        say(api, desk, TRADER, "/emergency")
        [ask] = api.wait_for_replies(TRADER, 1)
        code = code_from(ask)
    else:
        code = "000000"
    if attempt == "late":
        desk.clock.advance(61)
    if attempt == "wrong":
        code = f"{(int(code) + 1) % 10**6:06d}"
    say(api, desk, TRADER, f"/confirm {code}")
    replies = api.wait_for_replies(TRADER, 2 if attempt != "none" else 1)
    assert replies[-1].startswith("Refused:")
    assert desk.mode is Mode.ACTIVE and desk.closes == []
    assert audit[-1].success is False and "/confirm ******" in audit[-1].reason
    assert code not in audit[-1].reason or attempt == "none"
    # The code is single-use: after a refusal even the right code no longer works.
    if attempt == "wrong":
        say(api, desk, TRADER, f"/confirm {code_from(replies[0])}")
        assert api.wait_for_replies(TRADER, 3)[-1].startswith("Refused: no emergency is waiting")
        assert desk.mode is Mode.ACTIVE


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
    listener = TelegramCommandListener("111:wrong-token-xyz", api.url, TelegramAccess([TRADER], [TRADER]), handler,
                                       desk.clock, poll_timeout=1)
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


def test_access_needs_both_an_allowed_chat_and_an_allowed_user():
    access = TelegramAccess([TRADER, GROUP], [TRADER])
    assert access.refusal(Sender(TRADER, TRADER)) is None and access.refusal(Sender(GROUP, TRADER)) is None
    assert access.refusal(Sender(-1, TRADER)) == "chat -1 is not on telegram_allowed_chats"
    assert access.refusal(Sender(GROUP, STRANGER)) == f"user {STRANGER} is not on telegram_allowed_users"
    assert access.refusal(Sender(GROUP, None)) == "user None is not on telegram_allowed_users"  # a channel post


def test_stranger_throttle_answers_once_per_sender_and_caps_the_total(desk):
    throttle = StrangerThrottle(window_seconds=600, per_window=3)
    now = desk.clock.now()
    assert throttle.admit(Sender(1, 1), now) == 0
    assert throttle.admit(Sender(1, 1), now) is None
    assert [throttle.admit(Sender(chat, chat), now) for chat in (2, 3, 4, 5)] == [1, 0, None, None]
    later = now + timedelta(seconds=600)
    assert throttle.admit(Sender(1, 1), later) == 2  # its window is over; two went unanswered meanwhile


def test_telegram_user_ids_are_positive():
    with pytest.raises(ConfigError, match=r"telegram_allowed_users='4242,-100200' .*: must be Telegram user ids"):
        load_settings(environ={"CLEANUP_TELEGRAM_ALLOWED_USERS": "4242,-100200"})
    assert load_settings(environ={"CLEANUP_TELEGRAM_ALLOWED_USERS": "4242, 4343"}).settings.telegram_users == (
        4242, 4343)


def test_stop_does_not_wait_out_an_idle_long_poll_and_what_arrives_after_is_left_for_the_next_start(api, desk, audit):
    import time

    listener = make_listener(api.url, desk, audit, poll_timeout=20)
    listener.start()
    assert _wait(lambda: "getUpdates" in api.requests)  # in its 20 s long-poll
    started = time.monotonic()
    listener.stop(timeout=5)
    assert time.monotonic() - started < 2  # not the 20 s of the poll
    say(api, desk, TRADER, "/kill")  # the poll in flight returns this to a listener that has stopped
    time.sleep(0.5)
    assert not desk.killed and api.replies(TRADER) == []
    successor = make_listener(api.url, desk, audit, offset=listener.offset)
    assert successor.poll_once() == 1 and desk.killed  # delivered again, to the next start

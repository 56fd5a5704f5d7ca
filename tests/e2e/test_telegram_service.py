"""Telegram `/emergency` + `/confirm` against the real service during a simulated session."""

import contextlib
import json
import re
import threading
from pathlib import Path

from config import load_settings
from domain.session import EASTERN
from domain.settlement import Outcome
from runtime.control import control_plane
from simulation import runner
from simulation.scenario import load_scenario
from tests.fakes.telegram_api import FakeTelegramAPI

TRADER, STRANGER = 424242, 666
SCENARIO = Path(__file__).resolve().parents[2] / "simulation" / "scenarios" / "default.json"


# From 15:52 at 20x: the conversation takes a few wall seconds (about a virtual minute) and still ends
# minutes before T-5, inside the bot's 120 s message age; the afternoon's end takes 27 s, not 66.
START, SPEED = "15:52", 20


def run_with_telegram(tmp_path, api, conversation):
    """Run the built-in afternoon from START at SPEED; ``conversation(service)`` talks to the bot meanwhile."""
    raw = json.loads(SCENARIO.read_text()) | {"start": START}
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(raw))
    scenario = load_scenario(path)
    settings = load_settings(environ={}, flags={
        "data_dir": str(tmp_path / "data"), "simulation_dir": str(tmp_path / "simulations"), "metrics_port": 0,
        "telegram_bot_token": api.token,
        "telegram_api_url": api.url, "telegram_allowed_chats": str(TRADER)}).settings
    settings = runner.simulation_settings(settings, scenario, None)
    started = threading.Event()
    holder = {}

    @contextlib.contextmanager
    def attach(service):
        holder["service"] = service
        with control_plane(service, settings):
            started.set()
            yield

    result_box = {}
    thread = threading.Thread(target=lambda: result_box.update(
        result=runner.run_simulation(scenario, settings, speed=SPEED, on_started=attach)))
    thread.start()
    assert started.wait(60)
    conversation(holder["service"])
    thread.join(timeout=300)
    return result_box["result"]


def say(api, service, chat_id, text):
    return api.inject_message(chat_id, text, date=service.clock.now().timestamp())


def test_emergency_and_confirm_from_the_trader_close_every_expiring_position(tmp_path):
    with FakeTelegramAPI() as api:
        def conversation(service):
            say(api, service, TRADER, "/emergency")
            [ask] = api.wait_for_replies(TRADER, 1, timeout=20)
            code = re.search(r"/confirm (\d{6})", ask).group(1)
            say(api, service, TRADER, f"/confirm {code}")
            api.wait_for_replies(TRADER, 2, timeout=20)

        result = run_with_telegram(tmp_path, api, conversation)
    assert result.mode.value == "emergency"
    assert all(r.outcome is Outcome.CLOSED for r in result.results)  # the far OTM 650C too
    closes = [a for a in result.actions if a.action.value == "close"]
    assert min(a.at for a in closes).astimezone(EASTERN).strftime("%H:%M") < "15:55"  # before T-5
    commands = [a.reason for a in result.actions if a.action.value == "command"]
    assert any("/emergency -> accepted" in r for r in commands)


def test_the_same_from_an_unknown_chat_changes_nothing_and_is_audited_once(tmp_path):
    with FakeTelegramAPI() as api:
        def conversation(service):
            say(api, service, STRANGER, "/emergency")
            api.wait_for_replies(STRANGER, 1, timeout=20)
            assert api.wait_until_confirmed(say(api, service, STRANGER, "/confirm 123456"), timeout=20)

        result = run_with_telegram(tmp_path, api, conversation)
        replies = api.replies(STRANGER)
    assert result.mode.value == "active"
    assert {r.position.contract.key: r.outcome for r in result.results}["SPY 20261125 650C"] is Outcome.EXPIRED_OTM
    refused = [a for a in result.actions if a.action.value == "command" and a.success is False]
    # One row and one reply per stranger per window, however many messages it sends.
    assert len(refused) == 1 and str(STRANGER) in refused[0].reason and "/emergency" in refused[0].reason
    assert len(replies) == 1 and replies[0].startswith("Not authorised.")

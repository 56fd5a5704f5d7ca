"""runtime.logfiles: the seed's three files get the right records, and no secret reaches any output."""

from __future__ import annotations

import logging

import pytest

from runtime.logfiles import ACTIONS_FILE, ERRORS_FILE, RISK_FILE, setup_logging

PASSWORD = "s3cr3t-Pa55"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def logs(tmp_path, capsys):
    redact = setup_logging(tmp_path, secrets=[PASSWORD])
    yield tmp_path, redact
    for logger in (logging.getLogger(), logging.getLogger("cleanup.actions"), logging.getLogger("cleanup.risk")):
        for handler in list(logger.handlers):
            if getattr(handler, "_cleanup_manager_handler", False):
                logger.removeHandler(handler)
                handler.close()


def read(directory, name) -> str:
    for handler in logging.getLogger().handlers + logging.getLogger("cleanup.actions").handlers + \
            logging.getLogger("cleanup.risk").handlers:
        handler.flush()
    return (directory / name).read_text()


def test_each_file_gets_its_records(logs, capsys):
    directory, _ = logs
    logging.getLogger("cleanup.actions").info("close SPY 20261127 635C qty 2 at 1.25")
    logging.getLogger("cleanup.risk").info("SPY 20261127 640C moneyness %s risk high", "-0.4%")
    logging.getLogger("cleanup.supervisor").warning("price feed restarted")
    logging.getLogger("cleanup.executor").error("order 17 rejected")
    assert "close SPY 20261127 635C" in read(directory, ACTIONS_FILE)
    assert "moneyness -0.4% risk high" in read(directory, RISK_FILE)
    errors = read(directory, ERRORS_FILE)
    assert "order 17 rejected" in errors and "price feed restarted" not in errors and "close SPY" not in errors
    stderr = capsys.readouterr().err
    assert "close SPY 20261127 635C" in stderr and "price feed restarted" in stderr
    assert "moneyness -0.4%" not in stderr  # risk monitoring below WARNING stays in its own file


def test_secrets_are_redacted_everywhere(logs, capsys):
    directory, redact = logs
    redact.add("late-added-token-value")
    log = logging.getLogger("cleanup.actions")
    log.error("connect failed: postgresql://trader:%s@db:5432/trading_db", PASSWORD)
    log.error("dsn host=db password=%s dbname=x; also late-added-token-value", "other-pw")
    logging.getLogger("cleanup.notifier").error("telegram https://api.telegram.org/bot%s/getUpdates", TOKEN)
    try:
        raise RuntimeError(f"auth failed for password {PASSWORD}")
    except RuntimeError:
        logging.getLogger("cleanup.audit").exception("store failed")
    outputs = [read(directory, ACTIONS_FILE), read(directory, ERRORS_FILE), capsys.readouterr().err]
    for text in outputs:
        for secret in (PASSWORD, "other-pw", TOKEN, "late-added-token-value"):
            assert secret not in text
    assert "postgresql://trader:******@db" in outputs[1] and "store failed" in outputs[1]
    assert "RuntimeError: auth failed for password ******" in outputs[1]


def test_setting_up_twice_does_not_duplicate_lines(logs, tmp_path):
    setup_logging(tmp_path, to_stderr=False)
    logging.getLogger("cleanup.actions").info("once")
    assert read(tmp_path, ACTIONS_FILE).count("once") == 1

import json

import pytest

from config import ConfigError, load_settings
from config.settings import mask_dsn, settings_with
from domain.policy import Mode


def load(env=None, flags=None, path=None):
    return load_settings(path, flags or {}, environ=env or {})


def test_defaults_are_the_seeds():
    settings = load().settings
    assert (settings.t30_moneyness, settings.t5_moneyness, settings.t2_moneyness) == (0.02, 0.01, 0.005)
    assert settings.max_slippage == 0.10 and settings.max_attempts == 10
    assert (settings.ib_host, settings.ib_port) == ("127.0.0.1", 4002)
    assert settings.thetadata_url.endswith(":25510/v2") and settings.mode is Mode.MONITOR


def test_precedence_file_then_environment_then_flags(tmp_path):
    user = tmp_path / "user.json"
    user.write_text(json.dumps({"mode": "active", "t5_moneyness": 0.008, "max_slippage": 0.05}))
    loaded = load({"CLEANUP_T5_MONEYNESS": "0.009", "CLEANUP_MAX_SLIPPAGE": "0.07"}, {"max_slippage": "0.08"}, user)
    settings = loaded.settings
    assert settings.mode is Mode.ACTIVE and settings.t5_moneyness == 0.009 and settings.max_slippage == 0.08
    assert loaded.origins["mode"] == f"file {user}"
    assert loaded.origins["t5_moneyness"] == "environment CLEANUP_T5_MONEYNESS"
    assert loaded.origins["max_slippage"] == "command line"


def test_toml_user_file(tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('mode = "emergency"\n')
    assert load(path=user).settings.mode is Mode.EMERGENCY


def test_seed_variables_are_understood():
    env = {"CLEANUP_ENABLED": "false", "CLEANUP_T30_MONEYNESS": "0.03", "CLEANUP_T5_MONEYNESS": "0.015",
           "CLEANUP_T2_MONEYNESS": "0.004", "CLEANUP_MAX_SLIPPAGE": "0.2", "CLEANUP_MODE": "active",
           "CLEANUP_DB_DSN": "host=127.0.0.1 dbname=trading_db", "CLEANUP_IB_HOST": "127.0.0.1",
           "CLEANUP_IB_PORT": "4001", "CLEANUP_IB_CLIENT_ID": "9", "CLEANUP_THETADATA_URL": "http://127.0.0.1:25503/v3",
           "CLEANUP_TRADER_TZ": "Europe/London", "CLEANUP_LOG_DIR": "/tmp/l", "CLEANUP_DATA_DIR": "/tmp/d",
           "CLEANUP_METRICS_PORT": "0"}
    settings = load(env).settings
    assert not settings.enabled and not settings.trading_enabled
    assert settings.ib_port == 4001 and settings.metrics_port == 0 and settings.trader_tz == "Europe/London"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CLEANUP_T30_MONEYNESS", "0", "(0, 0.2]"),
        ("CLEANUP_T5_MONEYNESS", "0.25", "(0, 0.2]"),
        ("CLEANUP_T2_MONEYNESS", "0.015", "must not exceed t5_moneyness"),
        ("CLEANUP_T5_MONEYNESS", "0.03", "must not exceed t30_moneyness"),
        ("CLEANUP_MODE", "yolo", "'monitor', 'active' or 'emergency'"),
        ("CLEANUP_DB_DSN", "not a dsn", "libpq DSN"),
        ("CLEANUP_IB_PORT", "70000", "1-65535"),
        ("CLEANUP_METRICS_PORT", "-1", "1-65535"),
        ("CLEANUP_TRADER_TZ", "Mars/Olympus", "IANA"),
        ("CLEANUP_MAX_SLIPPAGE", "-0.1", "(0, 5]"),
        ("CLEANUP_MDOE", "active", "unknown setting"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_allowed(variable, value, message):
    with pytest.raises(ConfigError) as raised:
        load({variable: value})
    text = str(raised.value)
    assert text.startswith("config error: ") and "\n" not in text
    assert message in text
    key = variable.removeprefix("CLEANUP_").lower()
    assert key in text or variable in text


def test_secrets_are_masked_and_come_from_a_credentials_directory(tmp_path):
    (tmp_path / "db_password").write_text("hunter2\n")
    loaded = load({"CLEANUP_CREDENTIALS_DIR": str(tmp_path),
                   "CLEANUP_DB_DSN": "postgresql://trader:inline-secret@127.0.0.1:5432/trading_db"})
    shown = "\n".join(f"{k} {v} {o}" for k, v, o in loaded.describe())
    assert "hunter2" not in shown and "inline-secret" not in shown
    assert loaded.settings.secret("db_password") == "hunter2"
    assert "password=hunter2" in loaded.settings.database_dsn


def test_a_bad_dsn_error_never_shows_its_password():
    with pytest.raises(ConfigError) as raised:
        load({"CLEANUP_DB_DSN": "postgresql://u:topsecret@h/db?bogus_option=1"})
    assert "topsecret" not in str(raised.value)


def test_mask_dsn_forms():
    assert mask_dsn("host=h password=abc user=u") == "host=h password=****** user=u"
    assert mask_dsn("postgresql://u:abc@h/db") == "postgresql://u:******@h/db"


def test_runtime_changes_are_validated_like_configuration():
    settings = load().settings
    assert settings_with(settings, t5_moneyness=0.012).t5_moneyness == 0.012
    with pytest.raises(ConfigError, match="t2_moneyness"):
        settings_with(settings, t2_moneyness=0.05)


def test_an_empty_credentials_file_means_not_set(tmp_path):
    (tmp_path / "db_password").write_text("\n")
    settings = load({"CLEANUP_CREDENTIALS_DIR": str(tmp_path), "CLEANUP_DB_DSN": "host=127.0.0.1 dbname=x"}).settings
    assert settings.db_password is None and "password" not in settings.database_dsn

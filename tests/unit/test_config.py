import json
import tomllib
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from config.schema import Settings, mask_dsn, settings_with
from config.sections import SECTIONS
from domain.mode import Mode

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


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
    shown = "\n".join(" ".join(row) for row in loaded.describe())
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


FLOAT_KEYS = [key for key, field in Settings.model_fields.items() if field.annotation is float]


def test_the_float_settings_are_the_ones_expected():
    # The check below runs for every float setting; this guards against the list silently shrinking.
    assert {"attempt_interval_seconds", "quote_max_age_seconds", "t2_moneyness", "max_slippage",
            "feed_crosscheck_tolerance"} <= set(FLOAT_KEYS)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e400", "-1e400"])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_every_float_setting_refuses_nan_and_infinities_in_one_line(key, value):
    variable = f"CLEANUP_{key.upper()}"
    with pytest.raises(ConfigError) as raised:
        load({variable: value})
    text = str(raised.value)
    assert text.startswith(f"config error: {key}={value!r} (from environment {variable}): must be ")
    assert "\n" not in text


@pytest.mark.parametrize(("key", "value"), [
    ("quote_max_age_seconds", "86400"),  # a day-old quote is never stale: the guard would be off
    ("option_quote_max_age_seconds", "3600"),
    ("attempt_interval_seconds", "600"),  # ten attempts would not fit between T-5 and the close
    ("feed_crosscheck_tolerance", "0.5"),
    ("alert_throttle_seconds", "86400"),
])
def test_float_settings_have_upper_bounds(key, value):
    with pytest.raises(ConfigError, match=rf"^config error: {key}='{value}' .*: must be .* in \(0, "):
        load({f"CLEANUP_{key.upper()}": value})


def test_json_nan_and_infinity_literals_in_a_user_file_are_refused(tmp_path):
    user = tmp_path / "user.json"
    user.write_text('{"quote_max_age_seconds": Infinity}')  # Python's json reads these literals
    with pytest.raises(ConfigError, match=rf"quote_max_age_seconds=inf \(from file {user}\): must be"):
        load(path=user)
    user.write_text('{"attempt_interval_seconds": NaN}')
    with pytest.raises(ConfigError, match=r"attempt_interval_seconds=nan \(from file"):
        load(path=user)


def test_the_defaults_sit_inside_their_ranges():
    settings = load().settings
    for key in FLOAT_KEYS:
        assert settings_with(settings, **{key: getattr(settings, key)}) == settings


def test_a_non_utf8_config_file_is_one_clear_error(tmp_path):
    user = tmp_path / "user.toml"
    user.write_bytes('mode = "active"  # caf\N{LATIN SMALL LETTER E WITH ACUTE}\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        load(path=user)
    assert str(raised.value) == (f"config error: config='{user}': not UTF-8 text (at byte offset 22: invalid "
                                 "continuation byte); save the file as UTF-8")


def test_a_non_utf8_credentials_file_is_one_clear_error(tmp_path):
    (tmp_path / "telegram_bot_token").write_bytes(b"123:\xff\xfe")
    with pytest.raises(ConfigError, match=r"^config error: telegram_bot_token='.*telegram_bot_token': not UTF-8"):
        load({"CLEANUP_CREDENTIALS_DIR": str(tmp_path)})


GOOD_URLS = "tgram://123456789:AAHabcdefghijklmnopqrstuvwxyz0123456/987654321?tag=info json://127.0.0.1:9/hook"


@pytest.mark.parametrize(("urls", "says"), [
    ("json://127.0.0.1/hook?tag=loud", "alert URL json#1: severity must be info, warning or critical, got 'loud'"),
    ("tgram://not-a-token/987654321", "alert URL tgram#1: Apprise refuses this tgram:// URL"),
    (f"{GOOD_URLS} https://hooks.example.com/x", "alert URL https#3: Apprise"),
    ("slakc://T1/B2/C3", "has no service 'slakc://'"),
    ("hunter2-secret-token", "alert URL invalid#1: not a URL"),
])
def test_alert_urls_are_checked_by_apprise_at_load(urls, says):
    with pytest.raises(ConfigError) as raised:
        load({"CLEANUP_ALERT_URLS": urls})
    text = str(raised.value)
    assert text.startswith("config error: alert_urls='******' (from environment CLEANUP_ALERT_URLS): ")
    assert says in text and "\n" not in text
    assert "not-a-token" not in text and "hunter2" not in text and "987654321" not in text


def test_alert_urls_apprise_accepts_load():
    assert load({"CLEANUP_ALERT_URLS": GOOD_URLS}).settings.secret("alert_urls") == GOOD_URLS


def test_every_setting_is_in_exactly_one_section():
    listed = [key for keys in SECTIONS.values() for key in keys]
    assert sorted(listed) == sorted(Settings.model_fields)


def test_the_shipped_files_hold_only_sections():
    for name in ("defaults.toml", "seed.toml"):
        data = tomllib.loads((CONFIG_DIR / name).read_text())
        assert all(isinstance(value, dict) for value in data.values()), name
        assert set(data) <= set(SECTIONS), name


def test_a_sectioned_user_file(tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('[service]\nmode = "active"\n[thresholds]\nt5_moneyness = 0.008\n[broker]\nib_port = 4001\n')
    loaded = load(path=user)
    assert loaded.settings.mode is Mode.ACTIVE and loaded.settings.t5_moneyness == 0.008
    assert loaded.settings.ib_port == 4001 and loaded.settings.t30_moneyness == 0.02
    assert loaded.origins["t5_moneyness"] == loaded.origins["ib_port"] == f"file {user}"


def test_a_sectioned_json_user_file(tmp_path):
    user = tmp_path / "user.json"
    user.write_text(json.dumps({"execution": {"max_slippage": 0.05}, "mode": "active"}))
    settings = load(path=user).settings
    assert settings.max_slippage == 0.05 and settings.mode is Mode.ACTIVE


def test_a_flat_user_file_and_flat_keys_beside_sections(tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('t5_moneyness = 0.008\nlapse_longs = false\n[broker]\nib_port = 4001\n')
    settings = load(path=user).settings
    assert settings.t5_moneyness == 0.008 and not settings.lapse_longs and settings.ib_port == 4001


def test_the_seed_file_restores_the_seed_rules():
    settings = load(path=CONFIG_DIR / "seed.toml").settings
    assert not settings.lapse_longs and settings.short_assignment_probability == 1.0
    assert settings.dispose_assignments == "off" and not settings.ex_dividend_guard


@pytest.mark.parametrize(("name", "text"), [
    ("user.toml", 't5_moneyness = 0.008\n[thresholds]\nt5_moneyness = 0.009\n'),
    ("user.json", '{"thresholds": {"t5_moneyness": 0.009}, "t5_moneyness": 0.008}'),  # the section first
])
def test_a_key_given_flat_and_in_its_section_in_one_file_is_refused(tmp_path, name, text):
    user = tmp_path / name
    user.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load(path=user)
    assert str(raised.value) == (
        f"config error: thresholds.t5_moneyness={raised.value.value!r} (from file {user}): given twice, in "
        "[thresholds] and as the flat key t5_moneyness: keep one of the two")


def test_flat_in_one_layer_and_sectioned_in_another_is_layering(tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('[thresholds]\nt5_moneyness = 0.008\n')
    loaded = load({"CLEANUP_T5_MONEYNESS": "0.009"}, path=user)
    assert loaded.settings.t5_moneyness == 0.009
    assert loaded.origins["t5_moneyness"] == "environment CLEANUP_T5_MONEYNESS"


@pytest.mark.parametrize(("text", "says"), [
    ('[threshold]\nt5_moneyness = 0.008\n',
     "config error: threshold={'t5_moneyness': 0.008} (from file USER): unknown section; the sections are service, "
     "thresholds, "),
    ('[thresholds]\nt5_moneynes = 0.008\n',
     "config error: thresholds.t5_moneynes=0.008 (from file USER): not a setting of [thresholds]: unknown setting"),
    ('[broker]\nt5_moneyness = 0.008\n',
     "config error: broker.t5_moneyness=0.008 (from file USER): not a setting of [broker]: t5_moneyness belongs "
     "in [thresholds]"),
    ('[thresholds.t5]\nmoneyness = 0.008\n', "config error: thresholds.t5={'moneyness': 0.008} (from file USER)"),
    ('t5_moneynes = 0.008\n', "config error: t5_moneynes=0.008 (from file USER): unknown setting"),
])
def test_an_unknown_section_or_key_is_named_in_one_line(tmp_path, text, says):
    user = tmp_path / "user.toml"
    user.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load(path=user)
    assert str(raised.value).startswith(says.replace("USER", str(user))) and "\n" not in str(raised.value)


def test_names_outside_the_files_stay_flat():
    assert load({"CLEANUP_T5_MONEYNESS": "0.008"}).settings.t5_moneyness == 0.008
    assert load(flags={"t5_moneyness": "0.007"}).settings.t5_moneyness == 0.007
    with pytest.raises(ConfigError, match="CLEANUP_THRESHOLDS_T5_MONEYNESS='0.008': unknown setting"):
        load({"CLEANUP_THRESHOLDS_T5_MONEYNESS": "0.008"})
    with pytest.raises(ConfigError, match=r"thresholds.t5_moneyness='0.007' \(from command line\): unknown setting"):
        load(flags={"thresholds.t5_moneyness": "0.007"})


def test_describe_names_each_keys_section_and_origin(tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('[thresholds]\nt5_moneyness = 0.008\n')
    rows = {key: (section, value, origin) for section, key, value, origin in
            load({"CLEANUP_IB_PORT": "4001"}, {"mode": "active"}, user).describe()}
    assert rows["t5_moneyness"] == ("thresholds", "0.008", f"file {user}")
    assert rows["ib_port"] == ("broker", "4001", "environment CLEANUP_IB_PORT")
    assert rows["mode"] == ("service", "active", "command line")
    assert rows["t30_moneyness"] == ("thresholds", "0.02", "defaults")
    assert set(rows) == set(Settings.model_fields)

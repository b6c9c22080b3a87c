"""ops/settings.py: the environment turned into settings, with clear errors."""

from __future__ import annotations

import pytest

from ops.launcher import rasa_workers
from ops.settings import SettingsError, load


def test_the_defaults_are_for_one_machine_on_loopback():
    settings = load({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.redis_url is None
    assert settings.rasa_interface == "127.0.0.1"
    assert settings.action_host == "127.0.0.1"
    assert settings.telegram is None and settings.api is None
    assert settings.webchat_origins is None  # the chat page's own origin only


def test_allowed_origins_are_listed_and_never_a_wildcard():
    environ = {"WEBCHAT_ALLOWED_ORIGINS": "https://chat.example.org, https://example.org/"}
    assert load(environ).webchat_origins == ("https://chat.example.org", "https://example.org")
    with pytest.raises(SettingsError, match="not allowed"):
        load({"WEBCHAT_ALLOWED_ORIGINS": "*"})


@pytest.mark.parametrize(
    "environ, named",
    [
        ({"ENABLE_API": "true"}, "RASA_API_TOKEN"),
        ({"ACTION_SERVER_HOST": "0.0.0.0"}, "ACTION_SERVER_TOKEN"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"MAX_MESSAGE_CHARS": "lots"}, "MAX_MESSAGE_CHARS"),
        ({"REPLY_DEADLINE_SECONDS": "0"}, "REPLY_DEADLINE_SECONDS"),
        ({"TELEGRAM_TOKEN": "t"}, "TELEGRAM_BOT_NAME"),
        ({**dict.fromkeys(("TELEGRAM_TOKEN", "TELEGRAM_BOT_NAME", "TELEGRAM_WEBHOOK_URL"), "x"),
          "TELEGRAM_SECRET_TOKEN": "no spaces"}, "TELEGRAM_SECRET_TOKEN"),
    ],
)  # fmt: skip
def test_a_malformed_setting_is_named(environ, named):
    with pytest.raises(SettingsError, match=named):
        load(environ)


def test_an_exposed_action_server_with_a_token_is_allowed():
    settings = load({"ACTION_SERVER_HOST": "0.0.0.0", "ACTION_SERVER_TOKEN": "s3cret"})
    assert settings.action_server_is_exposed


def test_without_telegram_settings_telegram_is_off():
    assert load({}).telegram is None


def test_make_run_serves_one_rasa_process_per_core_with_redis_and_one_without():
    with_redis = load({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert rasa_workers(with_redis, cores=2) == 2
    assert rasa_workers(load({}), cores=2) == 1
    # SANIC_WORKERS always wins; 0 is not a number of processes.
    assert rasa_workers(load({"REDIS_URL": "redis://x", "SANIC_WORKERS": "3"}), cores=2) == 3
    assert rasa_workers(load({"SANIC_WORKERS": "2"}), cores=2) == 2
    with pytest.raises(SettingsError, match="SANIC_WORKERS"):
        load({"SANIC_WORKERS": "0"})

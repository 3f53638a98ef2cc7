import subprocess
import sys

import pytest

from dripfleet.settings import ConfigError, Settings, load_settings


def test_defaults_match_design():
    settings = load_settings({})
    assert settings == Settings()
    assert (settings.min_delay_seconds, settings.max_delay_seconds) == (5.0, 15.0)
    assert settings.worker_pool_size == 100
    assert settings.queue_buffer_size == 1000
    assert settings.health_check_seconds == 30.0
    assert settings.transport == "simulated"
    assert settings.database_url is None


def test_values_are_typed_and_fractions_allowed():
    settings = load_settings(
        {"MIN_DELAY_SECONDS": "0.05", "MAX_DELAY_SECONDS": "0.2", "WORKER_POOL_SIZE": "7",
         "TRANSPORT": "NEONIZE", "OPT_OUT_KEYWORDS": "stop, berhenti", "DEFAULT_REGION": "us"}
    )
    assert settings.min_delay_seconds == 0.05
    assert settings.max_delay_seconds == 0.2
    assert settings.worker_pool_size == 7
    assert settings.transport == "neonize"
    assert settings.opt_out_keywords == ("STOP", "BERHENTI")
    assert settings.default_region == "US"


def test_private_urls_are_refused_unless_allowed():
    assert load_settings({}).allow_private_urls is False
    assert load_settings({"ALLOW_PRIVATE_URLS": "true"}).allow_private_urls is True


@pytest.mark.parametrize(
    ("environ", "variable", "words"),
    [
        ({"MIN_DELAY_SECONDS": "abc"}, "MIN_DELAY_SECONDS", "not a number"),
        ({"MIN_DELAY_SECONDS": "20"}, "MIN_DELAY_SECONDS", "greater than MAX_DELAY_SECONDS"),
        ({"MAX_DELAY_SECONDS": "-1"}, "MAX_DELAY_SECONDS", "at least 0"),
        ({"MAX_DELAY_SECONDS": "nan"}, "MAX_DELAY_SECONDS", "finite"),
        ({"WORKER_POOL_SIZE": "1.5"}, "WORKER_POOL_SIZE", "whole number"),
        ({"WORKER_POOL_SIZE": "0"}, "WORKER_POOL_SIZE", "at least 1"),
        ({"QUEUE_BUFFER_SIZE": "many"}, "QUEUE_BUFFER_SIZE", "whole number"),
        ({"TRANSPORT": "carrier-pigeon"}, "TRANSPORT", "simulated, neonize"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL", "postgresql://"),
        ({"DEFAULT_REGION": "XX"}, "DEFAULT_REGION", "region"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "DEBUG"),
        ({"SECRET_KEY": ""}, "SECRET_KEY", "empty"),
        ({"SESSION_COOKIE_SECURE": "maybe"}, "SESSION_COOKIE_SECURE", "yes/no"),
        ({"TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES", "at least 0"),
        ({"LOGIN_MAX_FAILURES": "0"}, "LOGIN_MAX_FAILURES", "at least 1"),
        ({"LOGIN_THROTTLE_SECONDS": "15m"}, "LOGIN_THROTTLE_SECONDS", "whole number"),
        ({"ALLOW_PRIVATE_URLS": "maybe"}, "ALLOW_PRIVATE_URLS", "yes/no"),
        ({"CONTENT_FAILURE_PAUSE_AFTER": "0"}, "CONTENT_FAILURE_PAUSE_AFTER", "at least 1"),
        ({"SIM_READ_RATE": "1.5"}, "SIM_READ_RATE", "between 0 and 1"),
        ({"SIM_REPLY_RATE": "-0.1"}, "SIM_REPLY_RATE", "at least 0"),
        ({"SIM_DELIVER_SECONDS": "soon"}, "SIM_DELIVER_SECONDS", "not a number"),
    ],
)
def test_bad_values_name_the_variable(environ, variable, words):
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)
    assert raised.value.variable == variable
    assert words in str(raised.value)


def test_bad_configuration_exits_2_with_one_line():
    env = {"PATH": "/usr/bin:/bin", "MIN_DELAY_SECONDS": "9", "MAX_DELAY_SECONDS": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "dripfleet.cli", "migrate"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "MIN_DELAY_SECONDS" in lines[0]

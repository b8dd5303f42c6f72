"""Settings: every default has a DIGITS_* variable, read with its type, and a bad value is a clear error."""

from __future__ import annotations

import pytest

from realtime.serving.config import DEFAULTS, ENV_PREFIX, from_environment


def test_every_setting_is_read_from_its_variable_with_its_type():
    environ = {ENV_PREFIX + name: str(value) for name, value in DEFAULTS.items() if not isinstance(value, list)}
    environ[ENV_PREFIX + "ALLOWED_ORIGINS"] = "http://a.example, http://b.example,"
    environ[ENV_PREFIX + "MESSAGE_QUEUE"] = "redis://127.0.0.1:6379/0"  # its default, "", means unset
    environ[ENV_PREFIX + "ALLOWED_HOSTS"] = "laptop.local, digits.example"
    settings = from_environment(environ)
    for name, value in DEFAULTS.items():
        assert type(settings[name]) is type(value), name
    assert settings["ALLOWED_ORIGINS"] == ["http://a.example", "http://b.example"]
    assert settings["ALLOWED_HOSTS"] == ["laptop.local", "digits.example"]


def test_unset_and_empty_variables_leave_the_defaults():
    assert from_environment({}) == {}
    assert from_environment({ENV_PREFIX + "PORT": ""}) == {}


def test_a_value_of_the_wrong_type_is_a_clear_error():
    with pytest.raises(SystemExit, match="DIGITS_PORT='five' is not a valid int"):
        from_environment({ENV_PREFIX + "PORT": "five"})

"""The `display` YAML section (annotation and equivalents per team and key) and the
end-user id settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import DEFAULT_TEMPLATE, ConfigError, DisplayPolicy, load_settings
from tests.unit.test_config import load_yaml


def test_defaults() -> None:
    settings = load_settings(env={})
    assert settings.display.policy("any", None) == DisplayPolicy()
    assert settings.display.policy("any", None).template == DEFAULT_TEMPLATE
    assert settings.end_user_ids == "hashed" and settings.end_user_secret is None


def test_teams_and_keys_override_only_what_they_set(tmp_path: Path) -> None:
    display = load_yaml(tmp_path, """
display:
  language: de
  equivalents: true
  units: {distance: mi}
  teams:
    support: {annotate: true, language: fr}
    search: {units: {energy: mWh}}
  keys:
    key_aaa: {annotate: false}
    key_bbb: {annotate: true, equivalent: car_km}
""").display
    assert display.policy("other", None) == DisplayPolicy(
        language="de", equivalents=True, distance_unit="mi")
    support = display.policy("support", None)
    assert (support.annotate, support.language, support.equivalents) == (True, "fr", True)
    assert display.policy("search", None).energy_unit == "mWh"
    assert display.policy("search", None).distance_unit == "mi"
    assert not display.policy("support", "key_aaa").annotate
    assert display.policy("support", "key_aaa").language == "fr"
    bbb = display.policy("search", "key_bbb")
    assert (bbb.annotate, bbb.equivalent, bbb.energy_unit) == (True, "car_km", "mWh")
    assert display.policy("other", "key_unknown") == display.policy("other", None)


@pytest.mark.parametrize(("text", "message"), [
    ("display: [1]", "'display' must be a mapping"),
    ("display: {annotate: yes please}", "'display.annotate' must be true or false"),
    ("display: {language: xx}", "'display.language' must be one of en, fr, de"),
    ("display: {colour: red}", "unknown key 'display.colour'"),
    ("display: {equivalent: trees}", "'display.equivalent' must be one of"),
    ("display: {template: '{energy} {tokens}'}", "unknown field {tokens}"),
    ("display: {template: '{energy'}", "'display.template'"),
    ("display: {template: ''}", "non-empty string"),
    ("display: {units: {energy: J}}", "'display.units.energy' must be one of auto, mWh"),
    ("display: {units: {speed: kmh}}", "unknown key 'display.units.speed'"),
    ("display: {units: Wh}", "'display.units' must be a mapping"),
    ("display: {teams: [support]}", "'display.teams' must map names"),
    ("display: {teams: {support: {annotate: 1}}}", "'display.teams.support.annotate'"),
    ("display: {keys: {key_a: true}}", "'display.keys.key_a' must be a mapping"),
    ("settings: {display: {}}", "unknown key 'settings.display'"),
])
def test_bad_display_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(tmp_path, text)
    assert message in str(info.value)
    assert "\n" not in str(info.value).strip()


def test_end_user_settings() -> None:
    settings = load_settings(env={"WATTGATE_END_USER_IDS": "plain",
                                  "WATTGATE_END_USER_SECRET": "s3cret"})
    assert (settings.end_user_ids, settings.end_user_secret) == ("plain", "s3cret")
    with pytest.raises(ConfigError, match=r"END_USER_IDS \(settings.end_user_ids\): expected"):
        load_settings(env={"WATTGATE_END_USER_IDS": "encrypted"})

"""The durability settings: parsed, checked, and where the key snapshot goes by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import ConfigError, load_settings


def test_defaults_and_the_snapshot_beside_the_journal() -> None:
    settings = load_settings(env={"WATTGATE_SPOOL_PATH": "/var/lib/wattgate/usage.jsonl"})
    assert settings.when_usage_unrecordable == "refuse"
    assert settings.key_snapshot_file == Path("/var/lib/wattgate/wattgate-keys.json")
    moved = load_settings(env={"WATTGATE_KEY_SNAPSHOT_PATH": "/etc/wattgate/keys.json"})
    assert moved.key_snapshot_file == Path("/etc/wattgate/keys.json")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WATTGATE_WHEN_USAGE_UNRECORDABLE", "drop", "expected one of refuse, serve, got 'drop'"),
        ("WATTGATE_JOURNAL_FSYNC_INTERVAL_S", "0", "expected a positive number, got '0'"),
        ("WATTGATE_DATABASE_TIMEOUT_S", "-1", "expected a positive number, got '-1'"),
        ("WATTGATE_USAGE_QUEUE_ROWS", "lots", "expected a positive number, got 'lots'"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(env={variable: value})
    assert str(error.value) == f"{variable}: {message}"

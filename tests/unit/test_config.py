"""Configuration: environment plus YAML; bad input is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import ConfigError, load_settings


def load_yaml(tmp_path: Path, text: str, **env: str):
    path = tmp_path / "wattgate.yaml"
    path.write_text(text)
    return load_settings(env=env, config_path=str(path))


def test_defaults_and_env() -> None:
    settings = load_settings(env={})
    assert (settings.host, settings.port) == ("127.0.0.1", 4000)
    assert settings.database_url == "sqlite+aiosqlite:///./wattgate.db"
    assert settings.upstream_base_url == "https://api.openai.com/v1"
    assert settings.open_mode
    settings = load_settings(
        env={"WATTGATE_PORT": "8080", "OPENAI_API_KEY": "sk-x", "WATTGATE_MASTER_KEY": "m"}
    )
    assert settings.port == 8080 and settings.upstream_api_key == "sk-x"
    assert not settings.open_mode


def test_deployments_from_yaml(tmp_path: Path) -> None:
    settings = load_yaml(
        tmp_path,
        """
models:
  - name: prod-gpt4o
    base_url: https://example.openai.azure.com/openai/v1/
    api_key_env: AZURE_KEY
    provider: azure
    upstream_model: gpt-4o
    zone: azure:westeurope
    estimate: {model: openai/gpt-4o, gpu: H100, gpu_count: 8, batch_size: 32}
teams: [search, support]
""",
        AZURE_KEY="az-secret",
    )
    (dep,) = settings.deployments
    assert dep.base_url == "https://example.openai.azure.com/openai/v1"
    assert dep.api_key == "az-secret" and dep.provider == "azure"
    assert dep.overrides is not None and dep.overrides.gpu_count == 8
    assert settings.seed_teams == ("search", "support")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modelz: []", "unknown key 'modelz'"),
        ("models:\n  - base_url: http://x/v1", "'models[0].name' is required"),
        ("models:\n  - name: a\n    base_url: ftp://x", "'models[0].base_url' must start with"),
        (
            "models:\n  - name: a\n    base_url: http://x\n    api_key_env: NOPE_UNSET",
            "NOPE_UNSET, which is not set",
        ),
        ("models:\n  - name: a\n    base_url: http://x\n    estimate: {gpu_cnt: 4}", "gpu_cnt"),
        ("settings:\n  port: -1", "settings.port"),
        ("settings:\n  colour: red", "unknown key 'settings.colour'"),
        ("models: [\n", "not valid YAML"),
        ("teams: search", "'teams' must be a list"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(tmp_path, text)
    assert message in str(info.value)
    assert "\n" not in str(info.value).strip()


def test_bad_env_value() -> None:
    with pytest.raises(ConfigError, match="WATTGATE_PORT"):
        load_settings(env={"WATTGATE_PORT": "four thousand"})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(env={}, config_path=str(tmp_path / "absent.yaml"))

"""Configuration: environment plus YAML; bad input is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import (
    SETTINGS,
    ConfigError,
    catalog_warnings,
    load_settings,
    unknown_variables,
)

MODEL = "models:\n  - name: a\n    base_url: http://x/v1\n"


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
        ("models:\n  - name: a\n    base_url: ftp://x", "'models[0].base_url': 'ftp://x' is not"),
        (
            "models:\n  - name: a\n    base_url: http://x\n    api_key_env: NOPE_UNSET",
            "NOPE_UNSET, which is not set",
        ),
        ("models:\n  - name: a\n    base_url: http://x\n    estimate: {gpu_cnt: 4}", "gpu_cnt"),
        ("settings:\n  port: -1", "settings.port"),
        ("settings:\n  colour: red", "unknown key 'settings.colour'"),
        ("models: [\n", "not valid YAML"),
        ("teams: search", "'teams' must be a list"),
        ("teams: [search, no spaces]", "'teams[1]': invalid team name 'no spaces'"),
        ("teams: [search, 42]", "'teams[1]': invalid team name"),
        ("settings:\n  grid_zone: Atlantis", "settings.grid_zone in"),
        ("settings:\n  log_level: loud", "settings.log_level in"),
        ("settings: [port]", "'settings' must be a mapping"),
        (f"{MODEL}    zone: XYZ\n", "'models[0].zone': unknown grid zone 'XYZ'"),
        (f"{MODEL}    zone: aws:mars-north-1\n", "'models[0].zone': unknown cloud region"),
        (f"{MODEL}    provider: opanai\n", "'models[0].provider': unknown provider 'opanai' "
                                          "(did you mean 'openai'?)"),
        (f"{MODEL}    provider: [openai]\n", "'models[0].provider': unknown provider"),
        (f"{MODEL}    estimate: {{model: gpt-4oo-typo}}\n",
         "'models[0].estimate.model': 'gpt-4oo-typo' is not in the model catalog"),
        (f"{MODEL}    upstream_model: [a, b]\n", "'models[0].upstream_model' must be a model name"),
        ("models:\n  - name: a\n    base_url: http://", "'models[0].base_url': 'http://' is not"),
        ("models:\n  - name: a\n    base_url: http://x:port/v1", "'models[0].base_url'"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(tmp_path, text)
    assert message in str(info.value)
    assert "\n" not in str(info.value).strip()


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("WATTGATE_PORT", "four thousand", "WATTGATE_PORT: expected a port number"),
        ("WATTGATE_PORT", "70000", "WATTGATE_PORT: expected a port number from 1 to 65535"),
        ("WATTGATE_DATABASE_URL", "mysql://u@h/db", "WATTGATE_DATABASE_URL: unsupported "
                                                    "database URL scheme 'mysql'"),
        ("WATTGATE_DATABASE_URL", "wattgate.db", "WATTGATE_DATABASE_URL: not a database URL"),
        ("WATTGATE_DATABASE_URL", "postgresql+asyncpg://u:s3cret@h:xx/db", "not a database URL"),
        ("WATTGATE_GRID_ZONE", "Atlantis", "WATTGATE_GRID_ZONE: unknown grid zone 'Atlantis'"),
        ("WATTGATE_LOG_LEVEL", "verbose", "WATTGATE_LOG_LEVEL: expected one of debug, info,"),
        ("WATTGATE_LOG_FORMAT", "xml", "WATTGATE_LOG_FORMAT: expected one of text, json"),
        ("WATTGATE_LIBRARY_LOG_LEVEL", "all", "WATTGATE_LIBRARY_LOG_LEVEL: expected one of"),
        ("WATTGATE_UPSTREAM_BASE_URL", "localhost:9000/v1", "WATTGATE_UPSTREAM_BASE_URL: "
                                                         "'localhost:9000/v1' is not an http"),
        ("WATTGATE_ANTHROPIC_BASE_URL", "api.anthropic.com", "WATTGATE_ANTHROPIC_BASE_URL"),
        ("WATTGATE_UPSTREAM_RETRIES", "11", "WATTGATE_UPSTREAM_RETRIES: expected a whole number"),
    ],
)
def test_bad_env_value_names_the_variable(var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={var: value})
    assert message in str(info.value)
    assert "\n" not in str(info.value) and "s3cret" not in str(info.value)


def test_values_are_normalised() -> None:
    settings = load_settings(env={"WATTGATE_LOG_LEVEL": "DEBUG", "WATTGATE_LOG_FORMAT": "JSON",
                                  "WATTGATE_DATABASE_URL": "postgresql://u@db/wattgate"})
    assert (settings.log_level, settings.log_format) == ("debug", "json")
    assert settings.database_url == "postgresql://u@db/wattgate"  # the driver is added later


def test_source_names_where_a_setting_was_set(tmp_path: Path) -> None:
    settings = load_yaml(tmp_path, "settings:\n  port: 4100\n", WATTGATE_PORT="4200")
    assert settings.port == 4100  # YAML wins
    assert settings.source("port") == f"settings.port in {tmp_path / 'wattgate.yaml'}"
    assert settings.source("database_url") == "WATTGATE_DATABASE_URL"  # default: its variable
    assert set(SETTINGS.values()) and all(
        settings.source(name) == var for var, (name, _) in SETTINGS.items() if name != "port"
    )


def test_unknown_variables_are_warned_with_the_closest_name() -> None:
    warnings = unknown_variables({
        "WATTGATE_DB_URL": "postgresql://db/x",
        "WATTGATE_MASTERKEY": "m",
        "WATTGATE_PORT": "4000",  # known
        "WATTGATE_TEST_PG_URL": "postgresql://db/test",  # the test suite's own
        "WATTGATE_ZZZ": "1",
        "OTHER_THING": "1",
    })
    assert warnings == [
        "environment variable WATTGATE_DB_URL is not a Wattgate setting and is ignored "
        "(did you mean WATTGATE_DATABASE_URL?)",
        "environment variable WATTGATE_MASTERKEY is not a Wattgate setting and is ignored "
        "(did you mean WATTGATE_MASTER_KEY?)",
        "environment variable WATTGATE_ZZZ is not a Wattgate setting and is ignored",
    ]


def test_models_outside_the_catalog_are_warned(tmp_path: Path) -> None:
    settings = load_yaml(tmp_path, """
models:
  - name: house-llm
    base_url: http://vllm:8000/v1
    provider: vllm
  - name: sized-llm
    base_url: http://vllm:8000/v1
    provider: vllm
    estimate: {total_params_b: 8, active_params_b: 8}
  - name: gpt-4o
    base_url: https://api.openai.com/v1
""")
    (warning,) = catalog_warnings(settings)
    assert warning.startswith("config: models[0]: 'house-llm' is not in the model catalog")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(env={}, config_path=str(tmp_path / "absent.yaml"))

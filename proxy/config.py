"""Settings: environment variables for the simple case, one YAML file for the rest.

Every setting is documented once, in `SETTINGS` below; `wattgate serve --help` and
docs/configuration.md are built from the same names. Bad configuration raises
`ConfigError` with a one-line message that names the offending key, before anything
starts listening.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from estimators import EstimatorError, Overrides


class ConfigError(Exception):
    """Configuration that cannot work; the message names the bad key."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream that serves a model name clients send."""

    name: str  # the model name clients use ("*" for the default upstream)
    base_url: str
    api_key: str | None = None
    provider: str = "openai"
    upstream_model: str | None = None  # model name sent upstream, if different
    overrides: Overrides | None = None  # estimator assumptions for this deployment
    timeout_s: float | None = None
    retries: int | None = None  # extra tries on this deployment (None: settings.upstream_retries)
    backoff_s: float | None = None  # first retry delay, doubled each time (None: settings)
    headers: tuple[tuple[str, str], ...] = ()  # extra headers sent upstream
    params: tuple[tuple[str, Any], ...] = ()  # extra litellm arguments (translated providers)
    id: str | None = None  # tells apart the deployments of one fallback chain

    @property
    def label(self) -> str:
        """How responses (`x-wattgate-deployment`) and usage rows name this deployment."""
        return self.id or self.name

    @property
    def translated(self) -> bool:
        """Served through litellm (a non-OpenAI wire format) rather than passed through."""
        return self.provider in TRANSLATED_PROVIDERS


# Providers whose wire format is not OpenAI's: chat calls to them are translated with
# litellm. Value: litellm's model prefix.
TRANSLATED_PROVIDERS: dict[str, str] = {
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertex": "vertex_ai",
    "vertex_ai": "vertex_ai",
    "bedrock": "bedrock",
    "cohere": "cohere",
}
_NO_BASE_URL = frozenset({"gemini", "vertex", "vertex_ai", "bedrock", "cohere"})


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4000
    database_url: str = "sqlite+aiosqlite:///./wattgate.db"
    upstream_base_url: str = "https://api.openai.com/v1"
    upstream_api_key: str | None = None
    master_key: str | None = None
    config_path: str | None = None
    grid_zone: str | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    anthropic_api_key: str | None = None
    spool_path: str = "./wattgate-spool.jsonl"
    max_body_bytes: int = 32 * 1024 * 1024
    upstream_timeout_s: float = 600.0
    upstream_connect_timeout_s: float = 10.0
    upstream_retries: int = 0
    upstream_backoff_s: float = 0.25
    key_cache_ttl_s: float = 5.0
    key_snapshot_path: str | None = None  # None: wattgate-keys.json beside the spool
    database_timeout_s: float = 2.0
    journal_fsync_interval_s: float = 0.01
    usage_queue_rows: int = 20_000
    when_usage_unrecordable: str = "refuse"
    log_level: str = "info"
    electricitymaps_token: str | None = None
    electricitymaps_base_url: str = "https://api.electricitymap.org"
    deployments: tuple[Deployment, ...] = ()
    seed_teams: tuple[str, ...] = ()

    @property
    def open_mode(self) -> bool:
        """Without a master key every caller's own Authorization is forwarded upstream."""
        return not self.master_key

    @property
    def key_snapshot_file(self) -> Path:
        """Where the local copy of the active keys' hashes is kept."""
        if self.key_snapshot_path:
            return Path(self.key_snapshot_path)
        return Path(self.spool_path).with_name("wattgate-keys.json")

    def default_deployment(self) -> Deployment:
        return Deployment(
            name="*",
            base_url=self.upstream_base_url.rstrip("/"),
            api_key=self.upstream_api_key,
            provider=_provider_from_url(self.upstream_base_url),
            overrides=Overrides(zone=self.grid_zone) if self.grid_zone else None,
            timeout_s=self.upstream_timeout_s,
        )

    def anthropic_deployment(self) -> Deployment:
        """Where `/v1/messages` and unlisted `claude-*` / `anthropic/*` models go."""
        return Deployment(
            name="*",
            base_url=anthropic_root(self.anthropic_base_url),
            api_key=self.anthropic_api_key,
            provider="anthropic",
            overrides=Overrides(zone=self.grid_zone) if self.grid_zone else None,
            timeout_s=self.upstream_timeout_s,
        )


def anthropic_root(url: str) -> str:
    """An Anthropic base URL without the `/v1` some users add (clients append /v1/messages)."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


# env var -> (Settings field, help). The single place settings are named.
SETTINGS: dict[str, tuple[str, str]] = {
    "WATTGATE_HOST": ("host", "interface `wattgate serve` listens on"),
    "WATTGATE_PORT": ("port", "port `wattgate serve` listens on"),
    "WATTGATE_DATABASE_URL": (
        "database_url",
        "SQLAlchemy URL (sqlite+aiosqlite:// or postgresql+asyncpg://)",
    ),
    "WATTGATE_UPSTREAM_BASE_URL": ("upstream_base_url", "default OpenAI-compatible upstream"),
    "WATTGATE_UPSTREAM_API_KEY": (
        "upstream_api_key",
        "key for the default upstream (defaults to $OPENAI_API_KEY)",
    ),
    "WATTGATE_MASTER_KEY": ("master_key", "admin key; unset means open mode"),
    "WATTGATE_CONFIG": ("config_path", "YAML file with models, deployments and teams"),
    "WATTGATE_GRID_ZONE": (
        "grid_zone",
        "grid zone for deployments that set none (ISO-3 code or cloud region)",
    ),
    "WATTGATE_ANTHROPIC_BASE_URL": ("anthropic_base_url", "default Anthropic upstream"),
    "WATTGATE_SPOOL_PATH": (
        "spool_path",
        "usage journal on local disk: segments <path>.<n> hold rows until the database has them",
    ),
    "WATTGATE_JOURNAL_FSYNC_INTERVAL_S": (
        "journal_fsync_interval_s",
        "longest time a journaled usage row waits for fsync (group commit, off the request path)",
    ),
    "WATTGATE_DATABASE_TIMEOUT_S": (
        "database_timeout_s",
        "longest a usage insert, key lookup or health probe may take before the database is "
        "treated as unreachable",
    ),
    "WATTGATE_USAGE_QUEUE_ROWS": (
        "usage_queue_rows",
        "usage rows held in memory for the database at most (the journal holds the rest)",
    ),
    "WATTGATE_WHEN_USAGE_UNRECORDABLE": (
        "when_usage_unrecordable",
        "metered calls while neither the journal nor the database can take rows: refuse "
        "(503) or serve (rows counted in wattgate_usage_rows_lost_total)",
    ),
    "WATTGATE_KEY_SNAPSHOT_PATH": (
        "key_snapshot_path",
        "local copy of the active keys' hashes, for starting without the database "
        "(default: wattgate-keys.json beside the spool)",
    ),
    "WATTGATE_MAX_BODY_BYTES": ("max_body_bytes", "largest request body accepted"),
    "WATTGATE_UPSTREAM_TIMEOUT_S": (
        "upstream_timeout_s",
        "total time allowed for an upstream call",
    ),
    "WATTGATE_UPSTREAM_CONNECT_TIMEOUT_S": (
        "upstream_connect_timeout_s",
        "time allowed to connect upstream",
    ),
    "WATTGATE_UPSTREAM_RETRIES": (
        "upstream_retries",
        "extra tries per deployment on connection errors, 429 and 5xx (a fallback chain's "
        "next deployment is tried either way)",
    ),
    "WATTGATE_UPSTREAM_BACKOFF_S": (
        "upstream_backoff_s",
        "delay before the first retry, doubled for each further one",
    ),
    "WATTGATE_KEY_CACHE_TTL_S": (
        "key_cache_ttl_s",
        "how soon a revoked key stops working, seconds",
    ),
    "WATTGATE_LOG_LEVEL": ("log_level", "debug, info, warning or error"),
    "WATTGATE_ELECTRICITYMAPS_TOKEN": ("electricitymaps_token", "enables live grid intensity"),
    "WATTGATE_ELECTRICITYMAPS_BASE_URL": (
        "electricitymaps_base_url",
        "Electricity Maps API base URL",
    ),
}

_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}
_CHOICES = {"when_usage_unrecordable": ("refuse", "serve")}
_NAME_RE = re.compile(r"^[A-Za-z0-9._:/@+-]{1,200}$")


def load_settings(env: Mapping[str, str] | None = None, config_path: str | None = None) -> Settings:
    """Settings from the environment and, if named, the YAML file (YAML wins per key)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for var, (name, _) in SETTINGS.items():
        if env.get(var, "") != "":
            values[name] = _coerce(var, name, env[var])
    if "upstream_api_key" not in values and env.get("OPENAI_API_KEY"):
        values["upstream_api_key"] = env["OPENAI_API_KEY"]
    if env.get("ANTHROPIC_API_KEY"):
        values["anthropic_api_key"] = env["ANTHROPIC_API_KEY"]
    path = config_path or values.get("config_path")
    if path:
        values["config_path"] = path
        values.update(_load_yaml(Path(path), env))
    return Settings(**values)


def _coerce(source: str, name: str, raw: Any) -> Any:
    kind = _FIELD_TYPES[name]
    try:
        if name == "upstream_retries":
            value: Any = int(raw)
            if value < 0 or value > 10:
                raise ConfigError(f"{source}: expected a whole number from 0 to 10, got {raw!r}")
            return value
        if kind == "int":
            value = int(raw)
            if value <= 0:
                raise ValueError
            return value
        if kind == "float":
            value = float(raw)
            if value < 0 or (value == 0 and name != "upstream_backoff_s"):
                raise ValueError
            return value
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: expected a positive number, got {raw!r}") from None
    if not isinstance(raw, str):
        raise ConfigError(f"{source}: expected a string, got {raw!r}")
    choices = _CHOICES.get(name)
    if choices is not None and raw not in choices:
        raise ConfigError(f"{source}: expected one of {', '.join(choices)}, got {raw!r}")
    return raw


def _load_yaml(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"config file {path}: not valid YAML{where}: {problem}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    known = {"settings", "models", "teams"}
    for key in doc:
        if key not in known:
            raise ConfigError(f"config: unknown key '{key}' (expected one of {sorted(known)})")
    values: dict[str, Any] = {}
    for key, raw in (doc.get("settings") or {}).items():
        if key not in _FIELD_TYPES or key in {"deployments", "seed_teams"}:
            raise ConfigError(f"config: unknown key 'settings.{key}'")
        values[key] = _coerce(f"settings.{key}", key, raw)
    models = doc.get("models") or []
    if not isinstance(models, list):
        raise ConfigError("config: 'models' must be a list")
    grid_zone = values.get("grid_zone") or env.get("WATTGATE_GRID_ZONE") or None
    deployments = [_deployment(i, m, env, grid_zone) for i, m in enumerate(models)]
    values["deployments"] = _label_chains(deployments)
    teams = doc.get("teams") or []
    if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
        raise ConfigError("config: 'teams' must be a list of team names")
    values["seed_teams"] = tuple(teams)
    return values


_DEPLOYMENT_KEYS = {
    "name",
    "base_url",
    "api_key_env",
    "provider",
    "upstream_model",
    "zone",
    "estimate",
    "timeout_s",
    "retries",
    "backoff_s",
    "headers",
    "params",
    "id",
}


def _deployment(index: int, raw: Any, env: Mapping[str, str], grid_zone: str | None) -> Deployment:
    where = f"models[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"config: '{where}' must be a mapping")
    for key in raw:
        if key not in _DEPLOYMENT_KEYS:
            raise ConfigError(f"config: unknown key '{where}.{key}'")
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ConfigError(f"config: '{where}.name' is required")
    if not _NAME_RE.match(raw["name"]):
        raise ConfigError(f"config: '{where}.name' has characters a model name cannot have")
    base_url = raw.get("base_url")
    if base_url is None and raw.get("provider") in _NO_BASE_URL:
        base_url = ""  # litellm knows the provider's endpoint (and reads its credentials)
    elif not isinstance(base_url, str) or not base_url:
        raise ConfigError(f"config: '{where}.base_url' is required")
    elif not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"config: '{where}.base_url' must start with http:// or https://")
    api_key = None
    if raw.get("api_key_env"):
        api_key = env.get(raw["api_key_env"])
        if not api_key:
            raise ConfigError(
                f"config: '{where}.api_key_env' names {raw['api_key_env']}, which is not set"
            )
    estimate = dict(raw.get("estimate") or {})
    provider = raw.get("provider") or _provider_from_url(base_url)
    if not isinstance(provider, str):
        raise ConfigError(f"config: '{where}.provider' must be a string")
    estimate.setdefault("provider", provider)
    zone = raw.get("zone") or grid_zone
    if zone:
        estimate.setdefault("zone", zone)
    try:
        overrides = Overrides.from_mapping(estimate)
    except EstimatorError as exc:
        raise ConfigError(f"config: '{where}.estimate': {exc}") from None
    timeout = raw.get("timeout_s")
    if timeout is not None:
        timeout = _coerce(f"{where}.timeout_s", "upstream_timeout_s", timeout)
    retries = raw.get("retries")
    if retries is not None:
        retries = _coerce(f"{where}.retries", "upstream_retries", retries)
    backoff = raw.get("backoff_s")
    if backoff is not None:
        backoff = _coerce(f"{where}.backoff_s", "upstream_backoff_s", backoff)
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in headers.items()
    ):
        raise ConfigError(f"config: '{where}.headers' must map header names to values")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"config: '{where}.params' must be a mapping")
    base_url = base_url.rstrip("/")
    if provider == "anthropic":
        base_url = anthropic_root(base_url)
    return Deployment(
        name=raw["name"],
        base_url=base_url,
        api_key=api_key,
        provider=provider,
        upstream_model=raw.get("upstream_model"),
        overrides=overrides,
        timeout_s=timeout,
        retries=retries,
        backoff_s=backoff,
        headers=tuple((k, str(v)) for k, v in headers.items()),
        params=tuple(params.items()),
        id=_optional_name(where, raw.get("id")),
    )


def _optional_name(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ConfigError(f"config: '{where}.id' must be a short name")
    return value


def _label_chains(deployments: list[Deployment]) -> tuple[Deployment, ...]:
    """Deployments sharing a name (a fallback chain) without an `id` get `name#1`, `name#2`..."""
    counts: dict[str, int] = {}
    for dep in deployments:
        counts[dep.name] = counts.get(dep.name, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for dep in deployments:
        seen[dep.name] = seen.get(dep.name, 0) + 1
        if dep.id is None and counts[dep.name] > 1:
            dep = replace(dep, id=f"{dep.name}#{seen[dep.name]}")
        out.append(dep)
    labels = [d.label for d in out]
    for label in labels:
        if labels.count(label) > 1:
            raise ConfigError(f"config: deployment id '{label}' is used twice")
    return tuple(out)


def _provider_from_url(url: str) -> str:
    """Best guess of who runs an upstream, for data-centre defaults; config can say better."""
    host = url.split("://", 1)[-1].split("/", 1)[0].lower()
    for needle, provider in (
        ("openai.azure.com", "azure"),
        ("openai.com", "openai"),
        ("anthropic.com", "anthropic"),
        ("mistral.ai", "mistral"),
        ("googleapis.com", "google"),
        ("groq.com", "groq"),
    ):
        if needle in host:
            return provider
    return "openai"


__all__ = [
    "SETTINGS",
    "TRANSLATED_PROVIDERS",
    "ConfigError",
    "Deployment",
    "Settings",
    "anthropic_root",
    "load_settings",
]

"""Settings: environment variables for the simple case, one YAML file for the rest.

Every setting is documented once, in `SETTINGS` below; `wattgate serve --help` and
docs/configuration.md are built from the same names. Bad configuration raises
`ConfigError` with a one-line message that names the offending key, before anything
starts listening.
"""

from __future__ import annotations

import difflib
import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from estimators import EstimatorError, Overrides, resolve_model
from estimators.equivalents import FACTOR_BY_NAME
from estimators.hardware import PROVIDERS, resolve_provider
from proxy.display.languages import LANGUAGES
from proxy.logs import FORMATS, LEVELS
from proxy.rightsizing.config import (
    SECTIONS,
    RightsizingConfigError,
    RightsizingSettings,
    parse_sections,
)


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
    stream_usage: str = "auto"  # ask streams for usage: auto | inject | never (proxy.stream_usage)

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
    upstream_retry_after_max_s: float = 30.0
    key_cache_ttl_s: float = 5.0
    key_snapshot_path: str | None = None  # None: wattgate-keys.json beside the spool
    database_timeout_s: float = 2.0
    journal_fsync_interval_s: float = 0.01
    usage_queue_rows: int = 20_000
    when_usage_unrecordable: str = "refuse"
    log_level: str = "info"
    log_format: str = "text"
    library_log_level: str = "warning"
    max_connections: int = 1000
    keep_alive_timeout_s: float = 5.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    metrics_token: str | None = None
    electricitymaps_token: str | None = None
    electricitymaps_base_url: str = "https://api.electricitymap.org"
    otel_endpoint: str | None = None
    end_user_ids: str = "hashed"  # hashed | plain | off (see END_USER_MODES)
    end_user_secret: str | None = None
    forward_headers: tuple[str, ...] = ()  # headers team keys may send, beyond the defaults
    passthrough_paths: tuple[str, ...] = ()  # paths open to every team, beyond the defaults
    deployments: tuple[Deployment, ...] = ()
    seed_teams: tuple[str, ...] = ()
    team_passthrough: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    display: DisplaySettings = field(default_factory=lambda: DisplaySettings())
    rightsizing: RightsizingSettings = RightsizingSettings()  # YAML sections, see SECTIONS
    # Field -> where its value was set, as a user names it ("settings.port in FILE");
    # fields not in it come from the environment or their default.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    def source(self, name: str) -> str:
        """The name to show a user for setting `name`: `WATTGATE_PORT` or
        `settings.port in wattgate.yaml` (where its value was set)."""
        return self.origins.get(name) or ENV_NAMES.get(name, name)

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
    "WATTGATE_UPSTREAM_RETRY_AFTER_MAX_S": (
        "upstream_retry_after_max_s",
        "longest Retry-After an upstream may ask for before a retry; a longer one ends the "
        "retries on that deployment",
    ),
    "WATTGATE_FORWARD_HEADERS": (
        "forward_headers",
        "comma-separated header names (or prefixes ending in *) team keys may send upstream, "
        "beyond the built-in allow-list",
    ),
    "WATTGATE_PASSTHROUGH_PATHS": (
        "passthrough_paths",
        "comma-separated `[METHOD ]/v1/path` globs every team key may reach, beyond the "
        "built-in stateless endpoints",
    ),
    "WATTGATE_KEY_CACHE_TTL_S": (
        "key_cache_ttl_s",
        "how soon a revoked key stops working, seconds",
    ),
    "WATTGATE_LOG_LEVEL": ("log_level", "debug, info, warning or error"),
    "WATTGATE_LOG_FORMAT": (
        "log_format",
        "text (one line per event) or json (one object per line)",
    ),
    "WATTGATE_LIBRARY_LOG_LEVEL": (
        "library_log_level",
        "log level of the libraries Wattgate uses (uvicorn, aiohttp, SQLAlchemy, httpx); "
        "litellm never logs below warning, as its debug output holds prompt text",
    ),
    "WATTGATE_MAX_CONNECTIONS": (
        "max_connections",
        "open client connections kept at most (idle ones are closed first to make room)",
    ),
    "WATTGATE_KEEP_ALIVE_TIMEOUT_S": (
        "keep_alive_timeout_s",
        "a connection with no request in progress is closed after this long, seconds",
    ),
    "WATTGATE_HEADER_TIMEOUT_S": (
        "header_timeout_s",
        "time allowed to send a request's headers, seconds (408 after)",
    ),
    "WATTGATE_BODY_TIMEOUT_S": (
        "body_timeout_s",
        "time allowed to send a request's body once its headers are in, seconds (408 after)",
    ),
    "WATTGATE_METRICS_TOKEN": (
        "metrics_token",
        "bearer token that may read /metrics and /readyz details (the master key may too)",
    ),
    "WATTGATE_ELECTRICITYMAPS_TOKEN": ("electricitymaps_token", "enables live grid intensity"),
    "WATTGATE_OTEL_ENDPOINT": (
        "otel_endpoint",
        "OTLP/HTTP collector (e.g. http://otel-collector:4318) that gets one span per call "
        "(needs the otel extra)",
    ),
    "WATTGATE_ELECTRICITYMAPS_BASE_URL": (
        "electricitymaps_base_url",
        "Electricity Maps API base URL",
    ),
    "WATTGATE_END_USER_IDS": (
        "end_user_ids",
        "how end-user ids (OpenAI `user`, Anthropic `metadata.user_id`) are stored: "
        "hashed, plain or off",
    ),
    "WATTGATE_END_USER_SECRET": (
        "end_user_secret",
        "key of the end-user id hash (default: derived from the master key)",
    ),
}

ENV_NAMES = {name: var for var, (name, _) in SETTINGS.items()}
_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}
# Fields the YAML file sets from its own sections (or that are not settings at all).
_NOT_SETTINGS = frozenset(
    {"deployments", "seed_teams", "team_passthrough", "display", "rightsizing", "origins"}
)
_CHOICES = {"when_usage_unrecordable": ("refuse", "serve")}
_NAME_RE = re.compile(r"^[A-Za-z0-9._:/@+-]{1,200}$")
_IGNORED_ENV_PREFIXES = ("WATTGATE_TEST_",)  # read by the test suite, not by Wattgate


def load_settings(env: Mapping[str, str] | None = None, config_path: str | None = None) -> Settings:
    """Settings from the environment and, if named, the YAML file (YAML wins per key).

    Every value is checked here, without I/O: a bad one raises `ConfigError` naming it.
    """
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
    if values.get("end_user_ids", "hashed") not in END_USER_MODES:
        raise ConfigError(
            "WATTGATE_END_USER_IDS (settings.end_user_ids): expected one of "
            f"{', '.join(END_USER_MODES)}, got {values['end_user_ids']!r}"
        )
    return Settings(**values)


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """One warning per `WATTGATE_*` environment variable that names no setting (a typo such
    as `WATTGATE_DB_URL` would otherwise go unnoticed), with the closest known name."""
    env = os.environ if env is None else env
    out = []
    for var in sorted(env):
        if not var.startswith("WATTGATE_") or var in SETTINGS:
            continue
        if var.startswith(_IGNORED_ENV_PREFIXES):
            continue
        # Compared without the shared prefix, which would make every name look close.
        names = {known.removeprefix("WATTGATE_"): known for known in SETTINGS}
        close = difflib.get_close_matches(var.removeprefix("WATTGATE_"), names, n=1, cutoff=0.6)
        hint = f" (did you mean {names[close[0]]}?)" if close else ""
        out.append(f"environment variable {var} is not a Wattgate setting and is ignored{hint}")
    return out


def catalog_warnings(settings: Settings) -> list[str]:
    """One warning per configured deployment whose model the catalog does not know and
    whose size the config does not give: its calls get a wide fallback estimate."""
    out = []
    for index, dep in enumerate(settings.deployments):
        overrides = dep.overrides or Overrides()
        if overrides.model or overrides.total_params_b:
            continue
        model = dep.upstream_model or dep.name
        if resolve_model(model, dep.provider) is None:
            out.append(
                f"config: models[{index}]: {model!r} is not in the model catalog, so its "
                f"calls get a wide fallback estimate (set models[{index}].estimate.model, "
                "or estimate.total_params_b)"
            )
    return out


def _text(source: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{source}: expected a string, got {raw!r}")
    return raw


def _http_url(source: str, raw: Any) -> str:
    text = _text(source, raw).strip()
    try:
        parts = urlsplit(text)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{source}: {text!r} is not an http:// or https:// URL")
    return text


def _database_url(source: str, raw: Any) -> str:
    from proxy.store.db import normalize_url  # SQLAlchemy: imported when a URL is given

    text = _text(source, raw)
    try:
        normalize_url(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return text


def _zone(source: str, raw: Any) -> str:
    text = _text(source, raw).strip()
    try:
        Overrides(zone=text)
    except EstimatorError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return text


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(source: str, raw: Any) -> str:
        text = _text(source, raw).strip().lower()
        if text not in options:
            raise ConfigError(f"{source}: expected one of {', '.join(options)}, got {raw!r}")
        return text

    return check


def _whole(low: int, high: int, what: str) -> Callable[[str, Any], int]:
    def check(source: str, raw: Any) -> int:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = low - 1
        if not low <= value <= high:
            raise ConfigError(f"{source}: expected {what} from {low} to {high}, got {raw!r}")
        return value

    return check


# Settings whose values need more than their type says.
_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "port": _whole(1, 65535, "a port number"),
    "database_url": _database_url,
    "upstream_base_url": _http_url,
    "anthropic_base_url": _http_url,
    "electricitymaps_base_url": _http_url,
    "otel_endpoint": _http_url,
    "grid_zone": _zone,
    "log_level": _choice(LEVELS),
    "library_log_level": _choice(LEVELS),
    "log_format": _choice(FORMATS),
    "upstream_retries": _whole(0, 10, "a whole number"),
}


def _coerce(source: str, name: str, raw: Any) -> Any:
    check = _CHECKS.get(name)
    if check is not None:
        return check(source, raw)
    kind = _FIELD_TYPES[name]
    if kind == "tuple[str, ...]":
        return _string_list(source, raw)
    try:
        if kind == "int":
            value: Any = int(raw)
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
    text = _text(source, raw)
    choices = _CHOICES.get(name)
    if choices is not None and text not in choices:
        raise ConfigError(f"{source}: expected one of {', '.join(choices)}, got {raw!r}")
    return text


def _string_list(source: str, raw: Any) -> tuple[str, ...]:
    """A list of strings: a YAML list, or a comma-separated string (environment)."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{source}: expected a list of strings, got {raw!r}")
    return tuple(i.strip() for i in items if i.strip())


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
    known = {"settings", "models", "teams", "display", *SECTIONS}
    for key in doc:
        if key not in known:
            raise ConfigError(f"config: unknown key '{key}' (expected one of {sorted(known)})")
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    settings = doc.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError("config: 'settings' must be a mapping")
    for key, raw in settings.items():
        if key not in _FIELD_TYPES or key in _NOT_SETTINGS:
            raise ConfigError(f"config: unknown key 'settings.{key}'")
        origins[key] = f"settings.{key} in {path}"
        values[key] = _coerce(origins[key], key, raw)
    values["origins"] = origins
    models = doc.get("models") or []
    if not isinstance(models, list):
        raise ConfigError("config: 'models' must be a list")
    grid_zone = values.get("grid_zone") or env.get("WATTGATE_GRID_ZONE") or None
    deployments = [_deployment(i, m, env, grid_zone) for i, m in enumerate(models)]
    values["deployments"] = _label_chains(deployments)
    values["seed_teams"], values["team_passthrough"] = _teams(doc.get("teams") or [])
    if doc.get("display") is not None:
        values["display"] = parse_display(doc["display"])
    values["rightsizing"] = _rightsizing(doc, values["deployments"])
    return values


def _rightsizing(doc: dict[str, Any], deployments: tuple[Deployment, ...]) -> RightsizingSettings:
    """The `rightsizing`, `shadow` and `route` sections (proxy.rightsizing.config)."""
    try:
        return parse_sections(doc, {d.name for d in deployments})
    except RightsizingConfigError as exc:
        raise ConfigError(f"config: {exc}") from None


def _teams(raw: Any) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """`teams:` entries: a name, or a mapping with `name` and the team's `passthrough_paths`."""
    from proxy.store.keys import validate_team_name

    if not isinstance(raw, list):
        raise ConfigError("config: 'teams' must be a list of team names or mappings")
    names: list[str] = []
    paths: dict[str, tuple[str, ...]] = {}
    for i, entry in enumerate(raw):
        if isinstance(entry, dict):
            for key in entry:
                if key not in {"name", "passthrough_paths"}:
                    raise ConfigError(f"config: unknown key 'teams[{i}].{key}'")
            name, where = entry.get("name"), f"teams[{i}].name"
        else:
            name, where = entry, f"teams[{i}]"
        try:
            validate_team_name(name if isinstance(name, str) else "")
        except ValueError as exc:
            raise ConfigError(f"config: '{where}': {exc}") from None
        names.append(name)
        if isinstance(entry, dict) and "passthrough_paths" in entry:
            paths[name] = _string_list(f"teams[{i}].passthrough_paths", entry["passthrough_paths"])
    return tuple(names), paths


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
    "stream_usage",
}
_STREAM_USAGE = ("auto", "inject", "never")


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
    upstream_model = raw.get("upstream_model")
    if upstream_model is not None and not (
        isinstance(upstream_model, str) and _NAME_RE.match(upstream_model)
    ):
        raise ConfigError(f"config: '{where}.upstream_model' must be a model name")
    if raw.get("provider") is not None:
        _provider(f"config: '{where}.provider'", raw["provider"])
    base_url = raw.get("base_url")
    if base_url is None and raw.get("provider") in _NO_BASE_URL:
        base_url = ""  # litellm knows the provider's endpoint (and reads its credentials)
    elif not isinstance(base_url, str) or not base_url:
        raise ConfigError(f"config: '{where}.base_url' is required")
    else:
        base_url = _http_url(f"config: '{where}.base_url'", base_url)
    api_key = None
    if raw.get("api_key_env"):
        api_key = env.get(raw["api_key_env"])
        if not api_key:
            raise ConfigError(
                f"config: '{where}.api_key_env' names {raw['api_key_env']}, which is not set"
            )
    estimate = dict(raw.get("estimate") or {})
    provider = raw.get("provider") or _provider_from_url(base_url)
    estimate.setdefault("provider", provider)
    zone = raw.get("zone")
    if zone is not None:
        zone = _zone(f"config: '{where}.zone'", zone)
    zone = zone or grid_zone
    if zone:
        estimate.setdefault("zone", zone)
    model = estimate.get("model")
    if isinstance(model, str) and resolve_model(model, provider) is None:
        raise ConfigError(
            f"config: '{where}.estimate.model': {model!r} is not in the model catalog "
            "(use a catalog id such as 'openai/gpt-4o', or leave it out and set "
            "total_params_b)"
        )
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
    stream_usage = raw.get("stream_usage", "auto")
    if stream_usage not in _STREAM_USAGE:
        raise ConfigError(
            f"config: '{where}.stream_usage' must be one of {', '.join(_STREAM_USAGE)}"
        )
    base_url = base_url.rstrip("/")
    if provider == "anthropic":
        base_url = anthropic_root(base_url)
    return Deployment(
        name=raw["name"],
        base_url=base_url,
        api_key=api_key,
        provider=provider,
        upstream_model=upstream_model,
        overrides=overrides,
        timeout_s=timeout,
        retries=retries,
        backoff_s=backoff,
        headers=tuple((k, str(v)) for k, v in headers.items()),
        params=tuple(params.items()),
        id=_optional_name(where, raw.get("id")),
        stream_usage=stream_usage,
    )


def _provider(source: str, raw: Any) -> str:
    """A provider name the estimator or the translation layer knows."""
    if isinstance(raw, str) and (raw in TRANSLATED_PROVIDERS or resolve_provider(raw)[1]):
        return raw
    names = sorted({*PROVIDERS, *TRANSLATED_PROVIDERS})
    close = difflib.get_close_matches(str(raw), names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(
        f"{source}: unknown provider {raw!r}{hint}; known: {', '.join(names)} (vllm, "
        "ollama, llamacpp... are 'selfhosted'; use 'generic' for another OpenAI-compatible "
        "service)"
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


# --- How footprints are shown to people: the annotation line and everyday equivalents ---

END_USER_MODES = ("hashed", "plain", "off")
DEFAULT_TEMPLATE = "⚡ {energy} · {emissions} · {water} · ≈ {equivalent} · {conversation}"
TEMPLATE_FIELDS = frozenset({"energy", "emissions", "water", "equivalent", "conversation"})
UNIT_CHOICES: dict[str, tuple[str, ...]] = {
    "energy": ("auto", "mWh", "Wh", "kWh"),
    "emissions": ("auto", "mg", "g", "kg"),
    "water": ("auto", "mL", "L"),
    "distance": ("km", "mi"),
}


@dataclass(frozen=True, slots=True)
class DisplayPolicy:
    """How one caller's calls show their footprint (the `display` YAML section, after the
    team's and the key's overrides)."""

    annotate: bool = False  # append the annotation line to the assistant's text
    equivalents: bool = False  # add `impacts.equivalents` to response bodies
    language: str = "en"  # a key of proxy.display.languages.LANGUAGES
    template: str = DEFAULT_TEMPLATE  # segments joined by " · "; see docs/chat-apps.md
    equivalent: str = "led_bulb_minutes"  # what {equivalent} shows, or "none"
    energy_unit: str = "auto"
    emissions_unit: str = "auto"
    water_unit: str = "auto"
    distance_unit: str = "km"


@dataclass(frozen=True, slots=True)
class DisplaySettings:
    """The gateway-wide policy, per-team policies and per-key overrides (by key id)."""

    default: DisplayPolicy = DisplayPolicy()
    teams: Mapping[str, DisplayPolicy] = field(default_factory=dict)
    keys: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def policy(self, team: str, key_id: str | None) -> DisplayPolicy:
        """The caller's policy: the key's overrides on top of its team's (or the default)."""
        base = self.teams.get(team, self.default)
        overrides = self.keys.get(key_id) if key_id is not None else None
        return base if not overrides else replace(base, **overrides)


def parse_display(raw: Any) -> DisplaySettings:
    """The `display` YAML section:

        display:
          annotate: false          # gateway-wide defaults ...
          language: en
          teams: {support: {annotate: true, language: fr}}
          keys: {key_0a1b2c3d4e5f: {annotate: true}}

    Teams and keys take the same keys as the defaults and override only what they set.
    Raises ConfigError naming the bad key.
    """
    if not isinstance(raw, dict):
        raise ConfigError("config: 'display' must be a mapping")
    own = {k: v for k, v in raw.items() if k not in ("teams", "keys")}
    default = DisplayPolicy(**_display_overrides("display", own))
    teams = {
        name: replace(default, **_display_overrides(f"display.teams.{name}", body))
        for name, body in _display_section(raw, "teams").items()
    }
    keys = {
        key_id: _display_overrides(f"display.keys.{key_id}", body)
        for key_id, body in _display_section(raw, "keys").items()
    }
    return DisplaySettings(default=default, teams=teams, keys=keys)


def _display_section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    section = raw.get(name) or {}
    if not isinstance(section, dict) or not all(isinstance(k, str) for k in section):
        raise ConfigError(f"config: 'display.{name}' must map names to settings")
    return section


def _display_overrides(where: str, raw: Any) -> dict[str, Any]:
    """Checked `DisplayPolicy` keyword arguments from one YAML mapping."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config: '{where}' must be a mapping")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("annotate", "equivalents"):
            if not isinstance(value, bool):
                raise ConfigError(f"config: '{where}.{key}' must be true or false")
            out[key] = value
        elif key == "language":
            out[key] = _one_of(f"{where}.language", value, tuple(LANGUAGES))
        elif key == "equivalent":
            out[key] = _one_of(f"{where}.equivalent", value, (*FACTOR_BY_NAME, "none"))
        elif key == "template":
            out[key] = _template(f"{where}.template", value)
        elif key == "units":
            if not isinstance(value, dict):
                raise ConfigError(f"config: '{where}.units' must be a mapping")
            for kind, unit in value.items():
                if kind not in UNIT_CHOICES:
                    raise ConfigError(f"config: unknown key '{where}.units.{kind}'")
                choice = _one_of(f"{where}.units.{kind}", unit, UNIT_CHOICES[kind])
                out[f"{kind}_unit"] = choice
        else:
            raise ConfigError(f"config: unknown key '{where}.{key}'")
    return out


def _one_of(where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"config: '{where}' must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _template(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"config: '{where}' must be a non-empty string")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"config: '{where}': {exc}") from None
    unknown = sorted(names - TEMPLATE_FIELDS)
    if unknown:
        raise ConfigError(
            f"config: '{where}' uses unknown field {{{unknown[0]}}} "
            f"(known: {', '.join(sorted(TEMPLATE_FIELDS))})"
        )
    return value


__all__ = [
    "END_USER_MODES",
    "SETTINGS",
    "TRANSLATED_PROVIDERS",
    "ConfigError",
    "Deployment",
    "DisplayPolicy",
    "DisplaySettings",
    "Settings",
    "anthropic_root",
    "catalog_warnings",
    "load_settings",
    "parse_display",
    "unknown_variables",
]

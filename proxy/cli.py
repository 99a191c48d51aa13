"""`wattgate`: run the gateway, manage teams and keys, and read usage.

Every command reads the same environment (`WATTGATE_*`) and `--config` file.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click

from proxy import __version__
from proxy.config import (
    SETTINGS,
    ConfigError,
    Settings,
    catalog_warnings,
    load_settings,
    unknown_variables,
)
from proxy.logs import LEVELS
from proxy.render import FORMATS, render

T = TypeVar("T")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
log = logging.getLogger("wattgate")


def _remember_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


def _config_option() -> click.Option:
    return click.Option(
        ["--config"],
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_remember_config,
        help="YAML file with models, deployments and teams (env: WATTGATE_CONFIG).",
    )


class CommandGroup(click.Group):
    """A group whose commands all take `--config` too, so it works before or after the
    command name (`wattgate --config F serve` and `wattgate serve --config F`)."""

    group_class = type  # subgroups are CommandGroups as well

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group):
            cmd.params.append(_config_option())
        super().add_command(cmd, name)


def _settings(ctx: click.Context) -> Settings:
    """The settings every command reads (loaded once per command); unknown `WATTGATE_*`
    variables are warned about."""
    state = ctx.ensure_object(dict)
    if "settings" not in state:
        try:
            state["settings"] = load_settings(config_path=state.get("config"))
        except ConfigError as exc:
            raise click.ClickException(f"configuration error: {exc}") from None
        if ctx.info_name != "serve":  # serve logs them, in the log format asked
            for warning in unknown_variables():
                click.echo(f"warning: {warning}", err=True)
    return state["settings"]


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _probe(url: str, setting: str) -> None:
    from proxy.store.db import DatabaseUnavailable, probe

    try:
        _run(probe(url))
    except DatabaseUnavailable as exc:
        raise click.ClickException(f"{setting}: {exc}") from None


@contextmanager
def _readable_database(settings: Settings) -> Iterator[str]:
    """The URL a read-only command reads; never creates or migrates the real database.

    A database that does not exist yet (or was never migrated) reads as an empty one: the
    command runs against a throw-away empty schema, so every output format keeps its shape.
    A database at another schema revision is an error (`wattgate db upgrade` fixes it).
    What was read is kept for `say_if_empty`.
    """
    from proxy.store.db import display_url, sqlite_path
    from proxy.store.migrate import current, head, upgrade

    url, setting = settings.database_url, settings.source("database_url")
    reading = click.get_current_context().ensure_object(dict)
    reading["database"] = display_url(url)
    path = sqlite_path(url)
    missing = path is not None and not path.exists()
    if not missing:
        _probe(url, setting)
        revision = current(url)
        if revision == head():
            yield url
            return
        if revision is not None:
            raise click.ClickException(
                f"{setting}: the database is at schema revision {revision}, this wattgate "
                f"reads {head()} (run: wattgate db upgrade)"
            )
    reading["database"] += " (no such file yet)" if missing else " (no tables yet)"
    with tempfile.TemporaryDirectory(prefix="wattgate-empty-") as folder:
        empty = f"sqlite+aiosqlite:///{folder}/empty.db"
        upgrade(empty)
        yield empty


@contextmanager
def _writable_database(settings: Settings) -> Iterator[str]:
    """The URL of the real database, migrated to the newest schema (created if needed)."""
    from proxy.store.migrate import upgrade

    _probe(settings.database_url, settings.source("database_url"))
    upgrade(settings.database_url)
    yield settings.database_url


ReadOnly = bool | Callable[[dict[str, Any]], bool]


def with_engine(*, read_only: ReadOnly = False) -> Callable[..., Any]:
    """Run an async command body `fn(engine, **options)` against the configured database.

    `read_only` (or a function of the command's options saying so) commands never create,
    migrate or write the database; the others bring it to the newest schema first.
    """

    def decorate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        @wraps(fn)
        @click.pass_context
        def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
            from proxy.store.db import create_engine

            settings = _settings(ctx)
            reading = read_only(kwargs) if callable(read_only) else read_only
            opener = _readable_database if reading else _writable_database

            async def main(url: str) -> Any:
                engine = create_engine(url)
                try:
                    return await fn(engine, *args, **kwargs)
                finally:
                    await engine.dispose()

            with opener(settings) as url:
                return _run(main(url))

        return wrapper

    return decorate


def say_if_empty(rows: list[Any], what: str) -> None:
    """On stderr, when a read-only command found nothing: what, and which database was
    read (`no calls in 2026-10 in sqlite+aiosqlite:///./wattgate.db`)."""
    if not rows:
        database = click.get_current_context().ensure_object(dict).get("database", "?")
        click.echo(f"no {what} in {database}", err=True)


format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)


@click.group(cls=CommandGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="wattgate")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="WATTGATE_CONFIG",
    help="YAML file with models, deployments and teams (env: WATTGATE_CONFIG); "
    "every command also takes it after its name.",
)
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Wattgate: an OpenAI-compatible gateway that meters the energy, emissions and water
    of every LLM call.

    \b
    Examples:
      wattgate serve                        # proxy on 127.0.0.1:4000, SQLite, api.openai.com
      wattgate serve --config wattgate.yaml
      wattgate teams create search
      wattgate keys create --team search    # prints the key once
    """
    ctx.ensure_object(dict)
    ctx.obj.setdefault("config", config)


def _env_help() -> str:
    return "\n".join(f"  {var:<38} {doc}" for var, (_, doc) in SETTINGS.items())


@cli.command(context_settings=CONTEXT, epilog="\b\nEnvironment:\n" + _env_help())
@click.option("--host", help="Interface to listen on (env: WATTGATE_HOST, default 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port to listen on (env: WATTGATE_PORT, default 4000).",
)
@click.option(
    "--log-level",
    type=click.Choice(LEVELS),
    help="Log verbosity (env: WATTGATE_LOG_LEVEL).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, log_level: str | None) -> None:
    """Run the gateway (uvicorn with uvloop and httptools).

    Before anything starts it checks the configuration, the port and the database, and
    stops with one line naming the setting at fault.
    """
    from proxy.logs import setup_logging
    from proxy.preflight import PreflightError, bind, check_database, check_extras
    from proxy.server import raise_open_file_limit, uvicorn_config
    from proxy.store.db import display_url

    settings = _settings(ctx)
    host = host or settings.host
    port = port or settings.port
    level = log_level or settings.log_level
    setup_logging(level=level, fmt=settings.log_format, library_level=settings.library_log_level)
    for warning in unknown_variables():  # first: a misspelt variable may explain an error
        log.warning(warning)
    try:
        check_extras(settings)
        sock = bind(
            host,
            port,
            host_setting="--host" if ctx.params["host"] else settings.source("host"),
            port_setting="--port" if ctx.params["port"] else settings.source("port"),
        )
        outage = _run(check_database(settings))
    except PreflightError as exc:
        raise click.ClickException(str(exc)) from None
    import uvicorn

    from proxy.app import create_app

    for warning in (*catalog_warnings(settings), *([outage] if outage else [])):
        log.warning(warning)
    log.info(
        "wattgate %s on http://%s:%s (upstream %s, database %s, %s mode)",
        __version__, host, port, settings.upstream_base_url,
        display_url(settings.database_url), "open" if settings.open_mode else "team-key",
    )
    raise_open_file_limit()
    uvicorn.Server(uvicorn_config(create_app(settings), settings, host=host, port=port)).run(
        sockets=[sock]
    )


@cli.command("mock-upstream", context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=9000, show_default=True, help="Port to listen on.")
@click.option("--output-tokens", default=20, show_default=True, help="Tokens per completion.")
@click.option("--latency-ms", default=0.0, show_default=True, help="Delay before answering.")
def mock_upstream(host: str, port: int, output_tokens: int, latency_ms: float) -> None:
    """Run a local OpenAI- and Anthropic-compatible mock upstream (tests, benchmarks, demos)."""
    from proxy.mock_upstream import MockOptions
    from proxy.mock_upstream import serve as serve_mock

    click.echo(f"mock upstream on http://{host}:{port}/v1", err=True)
    serve_mock(host, port, MockOptions(output_tokens=output_tokens, latency_ms=latency_ms))


@cli.group(context_settings=CONTEXT)
def db() -> None:
    """Database schema."""


@db.command(context_settings=CONTEXT)
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Apply every pending migration (the gateway also does this on start)."""
    from proxy.store.db import display_url
    from proxy.store.migrate import current

    settings = _settings(ctx)
    with _writable_database(settings) as url:
        click.echo(f"database at revision {current(url)} ({display_url(url)})")


@cli.group(context_settings=CONTEXT)
def teams() -> None:
    """Create and list teams (usage is attributed per team)."""


@teams.command("create", context_settings=CONTEXT)
@click.argument("name")
@format_option
@with_engine()
async def teams_create(engine: Any, name: str, fmt: str) -> None:
    """Create team NAME."""
    from proxy.store.errors import AlreadyExists
    from proxy.store.keys import create_team

    try:
        team = await create_team(engine, name=name)
    except (ValueError, AlreadyExists) as exc:
        raise click.ClickException(str(exc) or f"team '{name}' already exists") from None
    click.echo(render([{"team": team.name, "created_at": team.created_at}], fmt), nl=False)


@teams.command("list", context_settings=CONTEXT)
@format_option
@with_engine(read_only=True)
async def teams_list(engine: Any, fmt: str) -> None:
    """List teams."""
    from proxy.store.keys import list_teams

    rows = [{"team": t.name, "created_at": t.created_at} for t in await list_teams(engine)]
    say_if_empty(rows, "teams")
    click.echo(render(rows, fmt, ["team", "created_at"]), nl=False)


@cli.group(context_settings=CONTEXT)
def keys() -> None:
    """Issue, list and revoke team API keys (only a hash is stored)."""


@keys.command("create", context_settings=CONTEXT)
@click.option("--team", required=True, help="Team the key's usage is attributed to.")
@click.option("--name", help="A label to tell keys apart.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text prints the key alone; json adds key_id and team.",
)
@with_engine()
async def keys_create(engine: Any, team: str, name: str | None, fmt: str) -> None:
    """Create a key for TEAM and print it (it cannot be shown again)."""
    import orjson

    from proxy.store.errors import NotFound
    from proxy.store.keys import create_key

    try:
        key, record = await create_key(engine, team=team, name=name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except NotFound:
        raise click.ClickException(
            f"team '{team}' does not exist (create it: wattgate teams create {team})"
        ) from None
    if fmt == "json":
        click.echo(orjson.dumps({"key": key, "key_id": record.key_id, "team": record.team}))
    else:
        click.echo(key)
        click.echo(
            f"key id {record.key_id} for team {record.team}; store the key now, "
            "it is not shown again",
            err=True,
        )


@keys.command("list", context_settings=CONTEXT)
@click.option("--team", help="Only this team's keys.")
@format_option
@with_engine(read_only=True)
async def keys_list(engine: Any, team: str | None, fmt: str) -> None:
    """List keys (never their secret)."""
    from proxy.store.errors import NotFound
    from proxy.store.keys import list_keys

    try:
        found = await list_keys(engine, team=team)
    except NotFound:
        raise click.ClickException(f"team '{team}' does not exist") from None
    rows = [
        {
            "key_id": k.key_id,
            "team": k.team,
            "name": k.name,
            "prefix": k.prefix,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in found
    ]
    say_if_empty(rows, "keys")
    click.echo(
        render(rows, fmt, ["key_id", "team", "name", "prefix", "created_at", "revoked_at"]),
        nl=False,
    )


@keys.command("revoke", context_settings=CONTEXT)
@click.argument("key_id")
@with_engine()
async def keys_revoke(engine: Any, key_id: str) -> None:
    """Revoke KEY_ID (running gateways stop accepting it within WATTGATE_KEY_CACHE_TTL_S)."""
    from proxy.store.keys import revoke_key

    if not await revoke_key(engine, key_id=key_id):
        raise click.ClickException(f"no active key '{key_id}'")
    click.echo(f"revoked {key_id}")


def main() -> None:
    try:
        cli(obj={})
    except KeyboardInterrupt:
        sys.exit(130)


import proxy.cli_rightsize  # noqa: E402,F401  (registers rightsize)
from proxy import cli_reports  # noqa: E402,F401  (registers report, whatif, teams budget)

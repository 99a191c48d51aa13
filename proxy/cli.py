"""`wattgate`: run the gateway, manage teams and keys, and read usage.

Every command reads the same environment (`WATTGATE_*`) and `--config` file.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

import click

from proxy import __version__
from proxy.config import SETTINGS, ConfigError, Settings, load_settings
from proxy.render import FORMATS, render

T = TypeVar("T")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(config_path=ctx.obj.get("config"))
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _with_engine(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Run an async command body against a migrated database engine."""

    @wraps(fn)
    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        settings = _settings(ctx)

        async def main() -> Any:
            from proxy.store.db import create_engine
            from proxy.store.migrate import upgrade

            await asyncio.to_thread(upgrade, settings.database_url)
            engine = create_engine(settings.database_url)
            try:
                return await fn(engine, *args, **kwargs)
            finally:
                await engine.dispose()

        try:
            return _run(main())
        except (OSError, ConnectionError) as exc:
            raise click.ClickException(f"database unreachable: {exc}") from None

    return wrapper


format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="wattgate")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="WATTGATE_CONFIG",
    help="YAML file with models, deployments and teams (env: WATTGATE_CONFIG).",
)
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Wattgate: an OpenAI-compatible gateway that meters the energy, emissions and water
    of every LLM call.

    \b
    Examples:
      wattgate serve                        # proxy on 127.0.0.1:4000, SQLite, api.openai.com
      wattgate teams create search
      wattgate keys create --team search    # prints the key once
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


def _env_help() -> str:
    return "\n".join(f"  {var:<38} {doc}" for var, (_, doc) in SETTINGS.items())


@cli.command(context_settings=CONTEXT, epilog="\b\nEnvironment:\n" + _env_help())
@click.option("--host", help="Interface to listen on (env: WATTGATE_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (env: WATTGATE_PORT, default 4000).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log verbosity (env: WATTGATE_LOG_LEVEL).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, log_level: str | None) -> None:
    """Run the gateway (uvicorn with uvloop and httptools, connections bounded and timed out)."""
    import uvicorn

    from proxy.app import create_app
    from proxy.server import raise_open_file_limit, uvicorn_config

    settings = _settings(ctx)
    host = host or settings.host
    port = port or settings.port
    level = log_level or settings.log_level
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    click.echo(
        f"wattgate {__version__} on http://{host}:{port}  (upstream {settings.upstream_base_url}, "
        f"database {settings.database_url.split('://')[0]})",
        err=True,
    )
    raise_open_file_limit()
    uvicorn.Server(
        uvicorn_config(create_app(settings), settings, host=host, port=port, log_level=level)
    ).run()


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
    from proxy.store.migrate import current
    from proxy.store.migrate import upgrade as run_upgrade

    settings = _settings(ctx)
    try:
        run_upgrade(settings.database_url)
    except (OSError, ConnectionError) as exc:
        raise click.ClickException(f"database unreachable: {exc}") from None
    click.echo(f"database at revision {current(settings.database_url)}")


@cli.group(context_settings=CONTEXT)
def teams() -> None:
    """Create and list teams (usage is attributed per team)."""


@teams.command("create", context_settings=CONTEXT)
@click.argument("name")
@format_option
@_with_engine
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
@_with_engine
async def teams_list(engine: Any, fmt: str) -> None:
    """List teams."""
    from proxy.store.keys import list_teams

    rows = [{"team": t.name, "created_at": t.created_at} for t in await list_teams(engine)]
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
@_with_engine
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
@_with_engine
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
    click.echo(
        render(rows, fmt, ["key_id", "team", "name", "prefix", "created_at", "revoked_at"]),
        nl=False,
    )


@keys.command("revoke", context_settings=CONTEXT)
@click.argument("key_id")
@_with_engine
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

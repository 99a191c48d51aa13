"""What `wattgate serve` checks before it starts anything (migrations included).

Each check raises `PreflightError` with one line that names the setting to change:
the optional dependencies the configuration needs (the `providers` and `otel` extras),
the listening socket (bound here and handed to the server, so a busy port is found
first), and the database.
"""

from __future__ import annotations

import errno
import importlib.util
import socket

from proxy.config import Settings
from proxy.store.db import DatabaseMisconfigured, DatabaseUnavailable, probe


class PreflightError(Exception):
    """Serving cannot start; the message names the setting at fault."""


def check_extras(settings: Settings) -> None:
    """Optional dependencies the configuration needs are installed: litellm (the
    `providers` extra) for translated deployments, OpenTelemetry (`otel`) for span export."""
    needing = [d for d in settings.deployments if d.translated]
    if needing and not _installed("litellm"):
        dep = needing[0]
        raise PreflightError(
            f"config: model {dep.name!r} (provider {dep.provider}) is reached through "
            "litellm, which is not installed: install Wattgate with the 'providers' extra "
            "(pip install 'wattgate[providers]')"
        )
    if settings.otel_endpoint and not _installed("opentelemetry.sdk"):
        raise PreflightError(
            f"{settings.source('otel_endpoint')} is set but OpenTelemetry is not installed: "
            "install Wattgate with the 'otel' extra (pip install 'wattgate[otel]')"
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def bind(host: str, port: int, *, host_setting: str, port_setting: str) -> socket.socket:
    """A socket bound to `host:port` (not yet listening), as uvicorn would bind it.

    `host_setting` and `port_setting` are the names shown when it fails (`--port`,
    `WATTGATE_PORT`...).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise PreflightError(f"{host_setting}: cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PreflightError(
                f"{port_setting}: port {port} on {host} is already in use"
            ) from None
        setting = port_setting if exc.errno == errno.EACCES else host_setting
        raise PreflightError(f"{setting}: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


async def check_database(settings: Settings) -> str | None:
    """The database can be used as configured (PostgreSQL database and role known, SQLite
    folder there); raises `PreflightError` otherwise. An unreachable or silent server is an
    outage, not a mistake: the gateway starts anyway (usage is journaled, keys come from
    the local snapshot, migrations run when it answers) and this returns the warning."""
    try:
        await probe(settings.database_url)
    except DatabaseMisconfigured as exc:
        raise PreflightError(f"{settings.source('database_url')}: {exc}") from None
    except DatabaseUnavailable as exc:
        return (f"{settings.source('database_url')}: {exc}; starting anyway: usage is "
                "journaled and stored once the database answers")
    return None

"""Alembic migrations, installed as `proxy.migrations` (see setup.py)."""

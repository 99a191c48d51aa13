"""Storage errors, kept free of HTTP types so the CLI and the admin API map them as they see fit.

StoreError
 ├── NotFound       the team or key named does not exist
 └── AlreadyExists  a unique name is already taken
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class for storage errors callers are expected to handle."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass

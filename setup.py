"""Which packages the distribution holds (the rest of the metadata is in pyproject.toml).

The repository keeps its Alembic migrations in the top-level `migrations/` folder; the
wheel installs them as `proxy.migrations`, so an installed Wattgate finds them next to
its code and no generic top-level `migrations` package lands in site-packages.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["proxy", "proxy.*", "estimators", "estimators.*"]),
        "proxy.migrations",
        "proxy.migrations.versions",
    ],
    package_dir={"proxy.migrations": "migrations"},
)

"""Conformance suite: each call direct and through Wattgate, compared against the table of
allowed changes in `compat` (docs/compatibility.md)."""

import pytest

# The comparison helpers assert; let pytest explain their failures.
pytest.register_assert_rewrite("tests.conformance.compat")

"""Run a test on both stores: `pytestmark = both_databases` (or as a decorator). The `database`
fixture (conftest.py) then takes "sqlite" and "postgresql"; the PostgreSQL variant is skipped
only when no PostgreSQL binaries are installed."""

from __future__ import annotations

import pytest

both_databases = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)

"""Fixtures of the hardware tests: the Verilator build cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def vcache() -> Path | None:
    """Verilator build cache of the tests: ONEBIT_TEST_VCACHE, else the library default."""
    d = os.environ.get("ONEBIT_TEST_VCACHE")
    return Path(d) if d else None

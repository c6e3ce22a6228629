"""Fixtures and skips for the hardware tests: Verilator presence, slow tests, a build cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onebit.errors import ToolNotFoundError
from onebit.hw import verilator


def _have_verilator() -> bool:
    try:
        verilator.verilator_path()
    except ToolNotFoundError:
        return False
    return True


def _run_slow(config: pytest.Config) -> bool:
    opt = False
    try:
        opt = bool(config.getoption("--runslow"))
    except ValueError:  # the option is registered by a conftest that is not loaded
        pass
    return opt or os.environ.get("ONEBIT_SLOW", "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    have = None
    slow = _run_slow(config)
    here = Path(__file__).parent
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        if "slow" in item.keywords and not slow:
            item.add_marker(pytest.mark.skip(reason="slow: run with --runslow or ONEBIT_SLOW=1"))
        if "verilator" in item.keywords:
            if have is None:
                have = _have_verilator()
            if not have:
                item.add_marker(pytest.mark.skip(reason="Verilator not installed"))


@pytest.fixture(scope="session")
def vcache() -> Path | None:
    """Verilator build cache of the tests: ONEBIT_TEST_VCACHE, else the library default."""
    d = os.environ.get("ONEBIT_TEST_VCACHE")
    return Path(d) if d else None

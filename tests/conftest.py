"""Shared fixtures and the `slow` opt-in (--runslow or ONEBIT_SLOW=1)."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("ONEBIT_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow or ONEBIT_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mlp_build(tmp_path_factory):
    """A simulated build of the small MLP (tests/nets.py), shared by the accelerator and
    system-simulation tests: (build directory, report)."""
    from onebit.flows.build import BuildConfig, BuildInput, build

    from nets import mlp, pixels

    out = tmp_path_factory.mktemp("mlp") / "b"
    report = build(BuildInput("mlp", pixels(8), torch_model=mlp()),
                   BuildConfig(out, sim_frames=8))
    return out, report

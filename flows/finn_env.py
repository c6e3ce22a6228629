"""FINN's global settings, pointed at onebit's build directory instead of run_finn.py's."""

from __future__ import annotations

import warnings
from pathlib import Path


def use_build_dir(path: Path) -> None:
    """Initialise FINN's settings so the files FINN passes write go under `path`."""
    from finn.util.settings import get_settings, initialize_dummy_settings

    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        initialize_dummy_settings()
    get_settings().finn_build_dir = path

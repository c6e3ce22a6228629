"""The driver's errors: one line each, no traceback needed to understand them.

The driver runs on boards where onebit itself is not installed, so it has its own small
hierarchy; `onebit.hw.packing` turns `PackingError` into onebit's `UserInputError`.
"""

from __future__ import annotations


class DriverError(Exception):
    """The bundle, the board or the input is not what the driver needs."""


class PackingError(DriverError, ValueError):
    """Values that do not fit their datatype, or words that cannot hold them."""


class DeviceError(DriverError):
    """The accelerator on the device is not the bundle's, or did not finish."""

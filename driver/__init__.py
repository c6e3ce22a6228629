"""onebit's board driver: runs a deployed accelerator from its bundle (numpy + the board's
library only; copied into every `onebit bitstream` bundle as `driver/`)."""

from .accelerator import Accelerator
from .errors import DeviceError, DriverError, PackingError

__all__ = ["Accelerator", "DeviceError", "DriverError", "PackingError"]

"""onebit: binary neural networks to FPGA dataflow accelerators, verified in simulation."""
__version__ = "0.1.0"

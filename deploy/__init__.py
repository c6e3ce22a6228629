"""Deployment bundles: Vivado/Vitis projects, the driver and the RTL for a board."""

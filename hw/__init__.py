"""onebit.hw: SystemVerilog library, RTL generation, stitching and Verilator simulation."""

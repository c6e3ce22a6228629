// onebit_axi_burst: the beats of the next AXI4 INCR burst of a transfer.
//
// A transfer is `remaining` bus beats from a bus-aligned address. The next burst takes as many
// as it may: at most 256 beats (AXI4 INCR), never past the next 4 KiB boundary, never more than
// remain. Combinational; the reader and both channels of the writer use it, so the writer's W
// side recomputes exactly the burst lengths its AW side issued.
module onebit_axi_burst #(
  parameter int unsigned BUS_BYTES = 8   // bytes per beat: a power of two, 4..64
) (
  input  logic [11:0] addr,       // address bits [11:0] of the burst start
  input  logic [63:0] remaining,  // beats left in the transfer
  output logic [8:0]  beats       // beats of the next burst (0 when none remain)
);
  localparam int unsigned SHIFT = $clog2(BUS_BYTES);

  if (BUS_BYTES < 4 || BUS_BYTES > 64 || (1 << SHIFT) != BUS_BYTES) begin : g_bad_bytes
    $error("onebit_axi_burst: BUS_BYTES must be a power of two in 4..64, got %0d", BUS_BYTES);
  end

  // Beats up to the 4 KiB boundary: 1 .. 4096 / BUS_BYTES (<= 1024).
  wire [12:0] to_4k = (13'd4096 - {1'b0, addr}) >> SHIFT;
  wire [12:0] cap   = to_4k > 13'd256 ? 13'd256 : to_4k;

  assign beats = remaining < 64'(cap) ? remaining[8:0] : cap[8:0];
endmodule

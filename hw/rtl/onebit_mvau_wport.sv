// onebit_mvau_wport: a 32-bit write port onto a memory of DEPTH words of WIDTH bits.
//
// A word is written as NP = ceil(WIDTH / 32) parts, part p carrying bits [32p +: 32];
// idx = word * P + part, P the smallest power of two >= NP. Parts 0..NP-2 are held in a
// staging register; the write of part NP-1 issues one full-width memory write (mem_we for a
// cycle, registered) of {data, staged parts}. Parts >= NP and words >= DEPTH are ignored.
module onebit_mvau_wport #(
  parameter int unsigned WIDTH = 32,
  parameter int unsigned DEPTH = 1,
  localparam int unsigned AW = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
  input  logic             clk,
  input  logic             we,
  input  logic [31:0]      idx,
  input  logic [31:0]      data,
  output logic             mem_we,
  output logic [AW-1:0]    mem_addr,
  output logic [WIDTH-1:0] mem_data
);
  localparam int unsigned NP = (WIDTH + 31) / 32;
  localparam int unsigned PB = NP > 1 ? $clog2(NP) : 0;  // index bits of the part
  localparam int unsigned SW = NP > 1 ? (NP - 1) * 32 : 1;

  if (WIDTH < 1 || DEPTH < 1) begin : g_bad
    $error("onebit_mvau_wport: WIDTH (%0d) and DEPTH (%0d) must be >= 1", WIDTH, DEPTH);
  end

  wire [31:0] word = idx >> PB;
  wire [31:0] part = PB > 0 ? idx & ((32'd1 << PB) - 32'd1) : 32'd0;
  wire        in_range = word < DEPTH;
  logic [SW-1:0] staged;

  always_ff @(posedge clk) begin
    mem_we <= we && in_range && part == NP - 1;
    if (we && in_range && part == NP - 1) begin
      mem_addr <= AW'(word);
      if (NP > 1) mem_data <= WIDTH'({data, staged});
      else mem_data <= WIDTH'(data);
    end
  end

  if (NP > 1) begin : g_stage
    always_ff @(posedge clk) begin
      for (int p = 0; p < NP - 1; p++) begin
        if (we && in_range && part == p) staged[p*32 +: 32] <= data;
      end
    end
  end else begin : g_no_stage
    assign staged = '0;
  end
endmodule

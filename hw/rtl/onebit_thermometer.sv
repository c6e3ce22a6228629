// onebit_thermometer: FracBNN's thermometer encoder on a pixel stream, PE pixels per cycle.
//
// Each input word holds PE unsigned pixels of IN_BITS bits (element 0 in the LSBs); each output
// word holds, per pixel pe, LEVELS bits: bit pe*LEVELS + k is 1 when pixel pe >= thr[k] (the
// {0,1} code of the +-1 level bit k; onebit.flows.fracbnn_ops.thermometer). A C-channel pixel
// stream of C/PE words per position therefore becomes the C*LEVELS-channel bit stream of
// channels c*LEVELS + k, in order. The LEVELS thresholds are constants:
//   LEVEL_FILE: LEVELS words of IN_BITS+1 bits ($readmemh, one hex word per line), thr[k];
//               a threshold of 2**IN_BITS is never reached.
// No arithmetic beyond LEVELS constant compares per pixel (no DSP). One word per cycle; the
// result goes through a 2-word output FIFO, so s_axis_tready is a register (no combinational
// path from m_axis_tready) and the latency is one cycle.
//
// Functional coverage (simulation only, `define ONEBIT_COVERAGE; onebit.hw.coverage): which
// levels saw a pixel at or above them and one below them; with +coverage=DIR, `final` appends
//   <instance>.u_cov_levels thresholds <both ways> <only >=> <only <> <LEVELS>
// to DIR/functional.txt.
module onebit_thermometer #(
  parameter int unsigned PE = 1,
  parameter int unsigned IN_BITS = 8,
  parameter int unsigned LEVELS = 32,
  parameter string LEVEL_FILE = ""
) (
  input  logic                   clk,
  input  logic                   rst_n,
  input  logic [PE*IN_BITS-1:0]  s_axis_tdata,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,
  output logic [PE*LEVELS-1:0]   m_axis_tdata,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);
  localparam int unsigned TW = IN_BITS + 1;

  if (PE < 1 || IN_BITS < 1 || LEVELS < 1) begin : g_bad_params
    $error("onebit_thermometer: PE (%0d), IN_BITS (%0d) and LEVELS (%0d) must be >= 1",
           PE, IN_BITS, LEVELS);
  end

  /* verilator coverage_off */
  logic [TW-1:0] thr [LEVELS];  // constants: no toggle coverage
  /* verilator coverage_on */
  initial $readmemh(LEVEL_FILE, thr);

  logic [PE*LEVELS-1:0] bits;
  always_comb begin
    for (int p = 0; p < PE; p++) begin
      for (int k = 0; k < LEVELS; k++) begin
        bits[p*LEVELS + k] = {1'b0, s_axis_tdata[p*IN_BITS +: IN_BITS]} >= thr[k];
      end
    end
  end

  onebit_fifo #(
    .WIDTH(PE * LEVELS),
    .DEPTH(2)
  ) u_out (
    .clk          (clk),
    .rst_n        (rst_n),
    .s_axis_tdata (bits),
    .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready),
    .m_axis_tdata (m_axis_tdata),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready)
  );

`ifdef ONEBIT_COVERAGE
  logic [LEVELS-1:0] cov_ge, cov_lt;  // some pixel of the word at or above each level / below
  always_comb begin
    {cov_ge, cov_lt} = '0;
    for (int p = 0; p < PE; p++) begin
      cov_ge |= bits[p*LEVELS +: LEVELS];
      cov_lt |= ~bits[p*LEVELS +: LEVELS];
    end
  end
  onebit_cov_both_ways #(.ROWS(1), .COLS(LEVELS), .KIND("thresholds")) u_cov_levels (
    .clk, .en(rst_n && s_axis_tvalid && s_axis_tready), .row(1'b0), .ge(cov_ge), .lt(cov_lt)
  );
`endif
endmodule

// onebit_dwc: stream width converter for any input/output width (FINN's
// StreamingDataWidthConverter).
//
// The input words form one continuous bit sequence, word 0 first and each word's bit 0 first
// (element 0 in the LSBs); the output cuts the same sequence into OUT_BITS-wide words. Widths
// need not divide each other (6 -> 9: three input words give two output words). A frame of a
// FINN graph holds a whole number of words on both sides, so it is a whole number of
// lcm(IN_BITS, OUT_BITS) periods and the converter is empty between frames.
//
// A gearbox: a bit buffer of BUF_BITS whose low `fill` bits are valid (in steps of G =
// gcd(IN_BITS, OUT_BITS)). An output word is offered while fill >= OUT_BITS (its low OUT_BITS
// bits); an input word is taken while it fits in the buffer, and lands just above the valid
// bits that remain after this cycle's output. Both handshake conditions depend on `fill` only,
// so no ready passes combinationally through the module. BUF_BITS = IN + OUT + min(IN, OUT) - G
// is what lets the narrow side move a word every cycle while the wide side keeps up (a word
// per IN/OUT ratio), so the converter never slows a stream below its slower side.
module onebit_dwc #(
  parameter int unsigned IN_BITS  = 8,
  parameter int unsigned OUT_BITS = 8
) (
  input  logic                clk,
  input  logic                rst_n,
  input  logic [IN_BITS-1:0]  s_axis_tdata,
  input  logic                s_axis_tvalid,
  output logic                s_axis_tready,
  output logic [OUT_BITS-1:0] m_axis_tdata,
  output logic                m_axis_tvalid,
  input  logic                m_axis_tready
);
  function automatic int unsigned gcd(int unsigned a, int unsigned b);
    int unsigned t;
    while (b != 0) begin
      t = a % b;
      a = b;
      b = t;
    end
    return a;
  endfunction

  localparam int unsigned G        = gcd(IN_BITS, OUT_BITS);
  localparam int unsigned MIN_BITS = IN_BITS < OUT_BITS ? IN_BITS : OUT_BITS;
  localparam int unsigned BUF_BITS = IN_BITS + OUT_BITS + MIN_BITS - G;
  localparam int unsigned FILL_W   = $clog2(BUF_BITS + 1);
  localparam int unsigned POS_W    = $clog2(BUF_BITS);   // a bit index of the buffer

  if (IN_BITS < 1) begin : g_bad_in
    $error("onebit_dwc: IN_BITS must be >= 1, got %0d", IN_BITS);
  end
  if (OUT_BITS < 1) begin : g_bad_out
    $error("onebit_dwc: OUT_BITS must be >= 1, got %0d", OUT_BITS);
  end

  logic [BUF_BITS-1:0] buf_q, buf_d;
  logic [FILL_W-1:0]   fill;    // valid low bits of buf_q, a multiple of G

  wire s_fire = s_axis_tvalid && s_axis_tready;
  wire m_fire = m_axis_tvalid && m_axis_tready;

  assign s_axis_tready = 32'(fill) <= BUF_BITS - IN_BITS;
  assign m_axis_tvalid = 32'(fill) >= OUT_BITS;
  assign m_axis_tdata  = buf_q[OUT_BITS-1:0];

  // Valid bits left after this cycle's output word: where an incoming word lands.
  wire [FILL_W-1:0] keep = m_fire ? fill - FILL_W'(OUT_BITS) : fill;
  // keep <= BUF_BITS - IN_BITS whenever a word is taken, so it fits a bit index
  wire [POS_W-1:0]  wpos = keep[POS_W-1:0];

  always_comb begin
    buf_d = m_fire ? buf_q >> OUT_BITS : buf_q;
    if (s_fire) buf_d[wpos +: IN_BITS] = s_axis_tdata;
  end

  always_ff @(posedge clk) begin
    if (!rst_n) fill <= '0;
    else fill <= keep + (s_fire ? FILL_W'(IN_BITS) : '0);
  end

  // Data path without reset: bits at and above `fill` are never offered.
  always_ff @(posedge clk) begin
    buf_q <= buf_d;
  end
endmodule

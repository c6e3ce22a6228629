// onebit_dwc: stream width converter for any input/output width (FINN's
// StreamingDataWidthConverter).
//
// The input words form one continuous bit sequence, word 0 first and each word's bit 0 first
// (element 0 in the LSBs); the output cuts the same sequence into OUT_BITS-wide words. Widths
// need not divide each other (6 -> 9: three input words give two output words). A frame of a
// FINN graph holds a whole number of words on both sides, so it is a whole number of
// lcm(IN_BITS, OUT_BITS) periods and the converter is empty between frames.
//
// A gearbox over slots of G = gcd(IN_BITS, OUT_BITS) bits: an input word is A = IN_BITS / G
// slots, an output word B = OUT_BITS / G slots, the buffer S = A + B + min(A, B) - 1 slots
// whose low `fill` slots are valid. An output word is offered while fill >= B (its low B
// slots); an input word is taken while fill <= S - A, and lands just above the slots that
// remain after this cycle's output (`keep` = fill, less B when a word leaves). S is what lets
// the narrow side move a word every cycle while the wide side keeps up (a word per IN/OUT
// ratio), so the converter never slows a stream below its slower side.
//
// Logic depth: `fill` is held twice, as a thermometer code (th_q[k] = fill >= k) and one-hot
// (oh_q[k] = fill == k), both updated from the same four cases (a word in, out, both, none).
// The handshake flags are single thermometer bits (tvalid and tready out are registers, so no
// ready passes combinationally through the module). Before any output, a slot p holds its own
// bits below fill (th_q[p+1]) or input slot j where fill == p - j (oh_q): one AND-OR of
// registers and input data over at most min(A, B + min(A, B)) + 1 terms; a word leaving then
// shifts the result down by B slots (one 2:1 mux by m_axis_tready). No adder or barrel
// shifter on any path: 2 LUT levels when one width divides the other or the ratio is small
// (70 -> 7, 6 -> 9, 1 -> 300, 300 -> 1), 6 for 64 -> 49 bits, whose slots have 50 landing positions
// (the AND-OR's depth grows as log6 of its terms, its LUTs linearly).
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

  localparam int unsigned G = gcd(IN_BITS, OUT_BITS);
  localparam int unsigned A = IN_BITS / G;                   // slots of an input word
  localparam int unsigned B = OUT_BITS / G;                  // slots of an output word
  localparam int unsigned S = A + B + (A < B ? A : B) - 1;   // slots of the buffer

  if (IN_BITS < 1) begin : g_bad_in
    $error("onebit_dwc: IN_BITS must be >= 1, got %0d", IN_BITS);
  end
  if (OUT_BITS < 1) begin : g_bad_out
    $error("onebit_dwc: OUT_BITS must be >= 1, got %0d", OUT_BITS);
  end

  logic [G-1:0] buf_q [S];  // buffer slots, slot 0 = the oldest G bits
  logic [G-1:0] ext [S];    // buf_q with this cycle's input word landed at fill
  logic [S:1]   th_q;       // th_q[k]: fill >= k
  logic [S:0]   oh_q;       // oh_q[k]: fill == k

  assign m_axis_tvalid = th_q[B];
  assign s_axis_tready = !th_q[S - A + 1];
  wire m_fire = m_axis_tvalid && m_axis_tready;
  wire s_fire = s_axis_tvalid && s_axis_tready;
  wire [1:0] step = {s_fire, m_fire};

  for (genvar k = 0; k < int'(B); k++) begin : g_out
    assign m_axis_tdata[k*G +: G] = buf_q[k];
  end

  // fill after this cycle: fill - B (a word left) + A (a word came). Both codes extended by
  // constants, so that bit OFF + k is "fill >= k" / "fill == k" for -OFF <= k <= S + B.
  localparam int OFF = int'(A);
  wire [OFF + S + B:0] th_x = {{B{1'b0}}, th_q, {(OFF + 1){1'b1}}};
  wire [OFF + S + B:0] oh_x = {{B{1'b0}}, oh_q, {OFF{1'b0}}};
  for (genvar k = 0; k <= int'(S); k++) begin : g_fill
    localparam int K = OFF + k;
    wire [3:0] oh_src = {oh_x[K + B - A], oh_x[K - A], oh_x[K + B], oh_x[K]};
    always_ff @(posedge clk) begin
      if (!rst_n) oh_q[k] <= k == 0;
      else oh_q[k] <= oh_src[step];
    end
    if (k > 0) begin : g_th
      wire [3:0] th_src = {th_x[K + B - A], th_x[K - A], th_x[K + B], th_x[K]};
      always_ff @(posedge clk) begin
        if (!rst_n) th_q[k] <= 1'b0;
        else th_q[k] <= th_src[step];
      end
    end
  end

  // Slot p before any output: its own bits below fill, else input slot p - fill (slots above
  // fill + A are don't care; without s_fire the input lands anyway, above the valid slots).
  for (genvar p = 0; p < int'(S); p++) begin : g_slot
    // input slot j lands here when fill == p - j, 0 <= p - j <= S - A (a word is taken)
    localparam int JLO = p > int'(S - A) ? p - int'(S - A) : 0;
    localparam int JHI = p < int'(A) ? p : int'(A) - 1;
    always_comb begin
      ext[p] = {G{th_q[p+1]}} & buf_q[p];
      for (int j = JLO; j <= JHI; j++) begin
        ext[p] |= {G{oh_q[p-j]}} & s_axis_tdata[j*G +: G];
      end
    end
  end

  // Data path without reset: slots at and above `fill` are never offered. A word leaving
  // shifts the buffer down by B slots (nothing valid lands in the top B slots then).
  always_ff @(posedge clk) begin
    for (int p = 0; p < int'(S); p++) begin
      buf_q[p] <= m_fire && p + int'(B) < int'(S) ? ext[(p + B) % S] : ext[p];
    end
  end
endmodule

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

  localparam int unsigned IN_B = IN_BITS > 0 ? IN_BITS : 1;  // (the checks below name a 0)
  localparam int unsigned OUT_B = OUT_BITS > 0 ? OUT_BITS : 1;
  localparam int unsigned G = gcd(IN_B, OUT_B);
  localparam int unsigned A = IN_B / G;                      // slots of an input word
  localparam int unsigned B = OUT_B / G;                     // slots of an output word
  localparam int unsigned S = A + B + (A < B ? A : B) - 1;   // slots of the buffer

  if (IN_BITS < 1) begin : g_bad_in
    $error("onebit_dwc: IN_BITS must be >= 1, got %0d", IN_BITS);
  end
  if (OUT_BITS < 1) begin : g_bad_out
    $error("onebit_dwc: OUT_BITS must be >= 1, got %0d", OUT_BITS);
  end

  // The buffer, its landing words and both codes are whole vectors (slot p at bits p*G +: G),
  // so that a simulator updates each as one shift, not bit by bit; the logic per bit is the
  // same either way (a 4:1 choice by `step`, an AND-OR of the landing input slots).
  localparam int unsigned SG = S * G;
  logic [SG-1:0] buf_q;  // buffer slots, slot 0 = the oldest G bits
  logic [S:1]    th_q;   // th_q[k]: fill >= k
  logic [S:0]    oh_q;   // oh_q[k]: fill == k

  assign m_axis_tvalid = th_q[B];
  assign s_axis_tready = !th_q[S - A + 1];
  wire m_fire = m_axis_tvalid && m_axis_tready;
  wire s_fire = s_axis_tvalid && s_axis_tready;
  wire [1:0] step = {s_fire, m_fire};
  assign m_axis_tdata = buf_q[OUT_BITS-1:0];

  // fill after this cycle: fill - B (a word left: both codes shift down B), + A (a word came:
  // up A, "fill >= k" true below A), or both at once (A - B)
  localparam int unsigned UP = A > B ? A - B : 0;  // both at once: fill + UP - DOWN
  localparam int unsigned DOWN = B > A ? B - A : 0;
  localparam logic [S-1:0] ONES_A = {S{1'b1}} >> (S - A);  // "fill >= k" for k <= A
  localparam logic [S-1:0] ONES_UP = UP == 0 ? '0 : {S{1'b1}} >> (S - UP);
  function automatic logic [S:0] one_hot_next(logic [S:0] oh, logic [1:0] st);
    case (st)
      2'b00: return oh;
      2'b01: return oh >> B;
      2'b10: return oh << A;
      default: return oh << UP >> DOWN;
    endcase
  endfunction
  function automatic logic [S-1:0] thermo_next(logic [S-1:0] th, logic [1:0] st);
    case (st)
      2'b00: return th;
      2'b01: return th >> B;
      2'b10: return th << A | ONES_A;
      default: return (th << UP | ONES_UP) >> DOWN;
    endcase
  endfunction
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      oh_q <= (S + 1)'(1);
      th_q <= '0;
    end else begin
      oh_q <= one_hot_next(oh_q, step);
      th_q <= thermo_next(th_q, step);
    end
  end

  // Slot p before any output: its own bits below fill, else input slot j where fill == p - j
  // (0 <= p - j <= S - A: a word is taken); slots above fill + A are don't care (without
  // s_fire the input lands anyway, above the valid slots). Each slot is an AND-OR over the
  // pairs (f, j), f + j = p, of oh_q[f] & input slot j; the loop runs over the shorter of
  // f and j (the same logic): a simulator evaluates it every cycle, and 1 -> 1547 bits summed
  // over 1548 fills cost 1548 operations on 1548-bit vectors a cycle, over its one input slot
  // one.
  localparam int unsigned FILLS = S - A + 1;  // fills at which a word is taken
  logic [SG-1:0] keep, at, ext;  // slot p: G copies of th_q[p+1] (fill > p), of oh_q[p]
  if (G == 1) begin : g_bit_slots
    assign keep = th_q;
    assign at = SG'(oh_q[FILLS-1:0]);
  end else begin : g_slots  // generated, not a loop: a simulator's straight-line code
    for (genvar p = 0; p < S; p++) begin : g_slot
      assign keep[p*G +: G] = {G{th_q[p+1]}};
      assign at[p*G +: G] = p < FILLS ? {G{oh_q[p]}} : '0;
    end
  end
  if (FILLS <= A) begin : g_by_fill
    logic unused_at;
    assign unused_at = ^at;
    always_comb begin
      ext = buf_q & keep;
      for (int f = 0; f < int'(FILLS); f++)
        ext |= {SG{oh_q[f]}} & (SG'(s_axis_tdata) << (f * G));
    end
  end else begin : g_by_slot
    always_comb begin
      ext = buf_q & keep;
      for (int j = 0; j < int'(A); j++)
        ext |= (at << (j * G)) & {S{s_axis_tdata[j*G +: G]}};
    end
  end

  // Data path without reset: slots at and above `fill` are never offered. A word leaving
  // shifts the buffer down by B slots (the top B slots keep their own landing: nothing valid
  // lands there then).
  localparam logic [SG-1:0] LOW = SG'({SG{1'b1}} >> (B * G));  // slots p + B < S
  always_ff @(posedge clk) buf_q <= m_fire ? ext >> (B * G) & LOW | ext & ~LOW : ext;
endmodule

// onebit_pool: max pooling over a sliding-window stream (FINN's Pool node, Function MaxPool).
//
// The input is the stream of a depthwise sliding window generator: for every output pixel and
// every group of PE channels, the K window elements of those channels arrive as K consecutive
// words (layout (OH, OW, C/PE, K, PE), as finn-hlslib's Pool_batch reads it). Every K input
// words give one output word: lane p of the output is the maximum of lane p over the K words.
// Lanes are ELEM_BITS wide, element 0 in the LSBs; SIGNED selects two's complement compare.
// For 1-bit codes (BIPOLAR -1 -> 0, +1 -> 1, or BINARY) with SIGNED = 0 the maximum is the OR.
//
// The result goes to a two-word output buffer, so the module takes one word per cycle while
// the sink keeps up, and s_axis_tready is a function of registers only (no path from
// m_axis_tready). Latency: the result of a window is offered the cycle after its last word.
module onebit_pool #(
  parameter int unsigned PE        = 1,
  parameter int unsigned ELEM_BITS = 1,
  parameter bit          SIGNED    = 1'b0,
  parameter int unsigned K         = 4   // window elements (KernelSize[0] * KernelSize[1])
) (
  input  logic                    clk,
  input  logic                    rst_n,
  input  logic [PE*ELEM_BITS-1:0] s_axis_tdata,
  input  logic                    s_axis_tvalid,
  output logic                    s_axis_tready,
  output logic [PE*ELEM_BITS-1:0] m_axis_tdata,
  output logic                    m_axis_tvalid,
  input  logic                    m_axis_tready
);
  localparam int unsigned WIDTH = PE * ELEM_BITS;
  localparam int unsigned CNT_W = K > 1 ? $clog2(K) : 1;

  if (PE < 1) begin : g_bad_pe
    $error("onebit_pool: PE must be >= 1, got %0d", PE);
  end
  if (ELEM_BITS < 1) begin : g_bad_bits
    $error("onebit_pool: ELEM_BITS must be >= 1, got %0d", ELEM_BITS);
  end
  if (K < 1) begin : g_bad_k
    $error("onebit_pool: K must be >= 1, got %0d", K);
  end

  logic [CNT_W-1:0] cnt;          // index of the next window element
  logic [WIDTH-1:0] acc;          // running maximum of the current window
  logic [WIDTH-1:0] result;       // maximum including the incoming word
  logic [WIDTH-1:0] buf0, buf1;   // output buffer: buf0 is the head
  logic             vld0, vld1;

  wire first  = cnt == '0;
  wire last   = 32'(cnt) == K - 1;
  wire s_fire = s_axis_tvalid && s_axis_tready;
  wire push   = s_fire && last;
  wire pop    = vld0 && m_axis_tready;

  for (genvar p = 0; p < PE; p++) begin : g_lane
    wire [ELEM_BITS-1:0] a = acc[p*ELEM_BITS +: ELEM_BITS];
    wire [ELEM_BITS-1:0] b = s_axis_tdata[p*ELEM_BITS +: ELEM_BITS];
    wire a_ge_b = SIGNED ? ($signed(a) >= $signed(b)) : (a >= b);
    assign result[p*ELEM_BITS +: ELEM_BITS] = (first || !a_ge_b) ? b : a;
  end

  // A window's last word may only enter while the output buffer has a free slot.
  assign s_axis_tready = !vld1 || !last;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cnt  <= '0;
      vld0 <= 1'b0;
      vld1 <= 1'b0;
    end else begin
      if (s_fire) cnt <= last ? '0 : cnt + 1'b1;
      if (push && !pop) begin
        if (vld0) vld1 <= 1'b1;
        else vld0 <= 1'b1;
      end else if (pop && !push) begin
        vld0 <= vld1;
        vld1 <= 1'b0;
      end
    end
  end

  // Data path without reset.
  always_ff @(posedge clk) begin
    if (s_fire) acc <= result;
    if (push && !pop) begin
      if (vld0) buf1 <= result;
      else buf0 <= result;
    end else if (pop && !push) begin
      buf0 <= buf1;
    end else if (pop && push) begin
      if (vld1) begin
        buf0 <= buf1;
        buf1 <= result;
      end else begin
        buf0 <= result;
      end
    end
  end

  assign m_axis_tdata  = buf0;
  assign m_axis_tvalid = vld0;

`ifndef SYNTHESIS
  // Protocol check: an offered output word stays stable until taken.
  logic             held_q;
  logic [WIDTH-1:0] held_data_q;
  always_ff @(posedge clk) begin
    held_q      <= rst_n && m_axis_tvalid && !m_axis_tready;
    held_data_q <= m_axis_tdata;
    if (rst_n && held_q) begin
      assert (m_axis_tvalid && m_axis_tdata == held_data_q)
      else $error("onebit_pool: output changed while stalled");
    end
  end
`endif
endmodule

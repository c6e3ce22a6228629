// onebit_add_streams: element-wise sum of two AXI-Stream inputs (FINN's ElementwiseAdd node with
// two streamed inputs of one shape, the AddStreams of a residual block).
//
// Input 0 (s_axis_*) carries PE lanes of IN0_BITS bits, input 1 (s1_axis_*) PE lanes of
// IN1_BITS bits, element 0 in the LSBs. A lane is read as unsigned, two's complement
// (INn_SIGNED) or bipolar (INn_BIPOLAR, 1 bit: 0 -> -1, 1 -> +1). Output lane p is
// (in0[p] + in1[p]) in OUT_BITS bits, two's complement when the sum can be negative; it is
// exact as long as OUT_BITS holds the sum's range (the generator checks the datatypes).
//
// Each input has its own two-word queue, so the inputs are taken independently and
// s*_axis_tready are registered "queue not full" flags; a sum is formed when both queue heads
// are valid and goes to a two-word output queue. No path from m_axis_tready or from one
// input's tvalid to any tready. One word per cycle while both inputs and the sink keep up;
// latency two cycles.
module onebit_add_streams #(
  parameter int unsigned PE          = 1,
  parameter int unsigned IN0_BITS    = 8,
  parameter int unsigned IN1_BITS    = 8,
  parameter bit          IN0_SIGNED  = 1'b1,
  parameter bit          IN1_SIGNED  = 1'b1,
  parameter bit          IN0_BIPOLAR = 1'b0,
  parameter bit          IN1_BIPOLAR = 1'b0,
  parameter int unsigned OUT_BITS    = 9
) (
  input  logic                   clk,
  input  logic                   rst_n,
  input  logic [PE*IN0_BITS-1:0] s_axis_tdata,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,
  input  logic [PE*IN1_BITS-1:0] s1_axis_tdata,
  input  logic                   s1_axis_tvalid,
  output logic                   s1_axis_tready,
  output logic [PE*OUT_BITS-1:0] m_axis_tdata,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);
  localparam int unsigned MAX_IN = IN0_BITS > IN1_BITS ? IN0_BITS : IN1_BITS;
  localparam int unsigned IW     = PE * MAX_IN;              // width of the input queues
  localparam int unsigned EXT    = MAX_IN + 2 > OUT_BITS ? MAX_IN + 2 : OUT_BITS;
  localparam int unsigned OW     = PE * OUT_BITS;

  if (PE < 1) begin : g_bad_pe
    $error("onebit_add_streams: PE must be >= 1, got %0d", PE);
  end
  if (IN0_BITS < 1 || IN1_BITS < 1 || OUT_BITS < 1) begin : g_bad_bits
    $error("onebit_add_streams: IN0_BITS=%0d, IN1_BITS=%0d, OUT_BITS=%0d must be >= 1",
           IN0_BITS, IN1_BITS, OUT_BITS);
  end
  if ((IN0_BIPOLAR && IN0_BITS != 1) || (IN1_BIPOLAR && IN1_BITS != 1)) begin : g_bad_bipolar
    $error("onebit_add_streams: a bipolar input has 1-bit lanes (IN0_BITS=%0d, IN1_BITS=%0d)",
           IN0_BITS, IN1_BITS);
  end

  // ---- input queues: head (next operand) and spare, per input; widths zero-extended to IW
  /* verilator lint_off UNUSEDSIGNAL */  // upper bits of the narrower input stay zero
  logic [IW-1:0] in_head [2];
  /* verilator lint_on UNUSEDSIGNAL */
  logic [IW-1:0] in_spare [2];
  logic [IW-1:0] in_data [2];
  logic [1:0]    in_valid, head_vld, spare_vld;

  assign in_data[0]     = IW'(s_axis_tdata);
  assign in_data[1]     = IW'(s1_axis_tdata);
  assign in_valid       = {s1_axis_tvalid, s_axis_tvalid};
  assign s_axis_tready  = !spare_vld[0];
  assign s1_axis_tready = !spare_vld[1];

  // ---- output queue
  logic [OW-1:0] out_head, out_spare, sum;
  logic          out_vld, out_spare_vld;

  wire out_pop = out_vld && m_axis_tready;
  wire fire    = &head_vld && !out_spare_vld;  // both operands there, output slot free

  for (genvar i = 0; i < 2; i++) begin : g_in
    wire push = in_valid[i] && !spare_vld[i];
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        head_vld[i]  <= 1'b0;
        spare_vld[i] <= 1'b0;
      end else if (push && !fire) begin
        if (head_vld[i]) spare_vld[i] <= 1'b1;
        else head_vld[i] <= 1'b1;
      end else if (fire && !push) begin
        head_vld[i]  <= spare_vld[i];
        spare_vld[i] <= 1'b0;
      end
    end
    always_ff @(posedge clk) begin
      if (push && (!head_vld[i] || fire)) in_head[i] <= in_data[i];
      else if (fire) in_head[i] <= in_spare[i];
      if (push && head_vld[i] && !fire) in_spare[i] <= in_data[i];
    end
  end

  // ---- lanes
  function automatic logic signed [EXT-1:0] lane_value(logic [MAX_IN-1:0] code, int unsigned bits,
                                                       bit is_signed, bit is_bipolar);
    logic signed [EXT-1:0] v;
    v = '0;
    for (int unsigned b = 0; b < EXT; b++) begin
      if (b < bits) v[b] = code[b];
      else v[b] = is_signed && code[bits-1];
    end
    if (is_bipolar) v = code[0] ? EXT'(1) : -EXT'(1);
    return v;
  endfunction

  for (genvar p = 0; p < PE; p++) begin : g_lane
    wire [MAX_IN-1:0] a = MAX_IN'(in_head[0][p*IN0_BITS +: IN0_BITS]);
    wire [MAX_IN-1:0] b = MAX_IN'(in_head[1][p*IN1_BITS +: IN1_BITS]);
    /* verilator lint_off UNUSEDSIGNAL */  // bits above OUT_BITS: the sum fits OUT_BITS
    wire signed [EXT-1:0] total = lane_value(a, IN0_BITS, IN0_SIGNED, IN0_BIPOLAR)
                                + lane_value(b, IN1_BITS, IN1_SIGNED, IN1_BIPOLAR);
    /* verilator lint_on UNUSEDSIGNAL */
    assign sum[p*OUT_BITS +: OUT_BITS] = total[OUT_BITS-1:0];
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      out_vld       <= 1'b0;
      out_spare_vld <= 1'b0;
    end else if (fire && !out_pop) begin
      if (out_vld) out_spare_vld <= 1'b1;
      else out_vld <= 1'b1;
    end else if (out_pop && !fire) begin
      out_vld       <= out_spare_vld;
      out_spare_vld <= 1'b0;
    end
  end

  always_ff @(posedge clk) begin
    if (fire && (!out_vld || out_pop)) out_head <= sum;
    else if (out_pop) out_head <= out_spare;
    if (fire && out_vld && !out_pop) out_spare <= sum;
  end

  assign m_axis_tdata  = out_head;
  assign m_axis_tvalid = out_vld;

`ifndef SYNTHESIS
  // Protocol check: an offered output word stays stable until taken.
  logic          held_q;
  logic [OW-1:0] held_data_q;
  always_ff @(posedge clk) begin
    held_q      <= rst_n && m_axis_tvalid && !m_axis_tready;
    held_data_q <= m_axis_tdata;
    if (rst_n && held_q) begin
      assert (m_axis_tvalid && m_axis_tdata == held_data_q)
      else $error("onebit_add_streams: output changed while stalled");
    end
  end
`endif
endmodule

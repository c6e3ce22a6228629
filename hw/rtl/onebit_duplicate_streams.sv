// onebit_duplicate_streams: one AXI-Stream input copied to two outputs (FINN's DuplicateStreams
// node with NumOutputStreams = 2).
//
// Words are PE lanes of ELEM_BITS bits (the module never looks inside them). Every output has
// its own two-word queue (a head register, offered on m*_axis_tdata, and a second slot), so a
// stalled branch keeps its copy while the other branch goes on. An input word is taken only
// when both queues have a free second slot; s_axis_tready is that registered condition, so no
// output's tready reaches the input combinationally. While both branches keep up the module
// passes one word per cycle; latency is one cycle. The branches may drift apart by at most two
// words: the slack between a residual block's two paths must be held by FIFOs outside.
module onebit_duplicate_streams #(
  parameter int unsigned PE        = 1,
  parameter int unsigned ELEM_BITS = 1
) (
  input  logic                    clk,
  input  logic                    rst_n,
  input  logic [PE*ELEM_BITS-1:0] s_axis_tdata,
  input  logic                    s_axis_tvalid,
  output logic                    s_axis_tready,
  output logic [PE*ELEM_BITS-1:0] m_axis_tdata,
  output logic                    m_axis_tvalid,
  input  logic                    m_axis_tready,
  output logic [PE*ELEM_BITS-1:0] m1_axis_tdata,
  output logic                    m1_axis_tvalid,
  input  logic                    m1_axis_tready
);
  localparam int unsigned WIDTH = PE * ELEM_BITS;

  if (PE < 1) begin : g_bad_pe
    $error("onebit_duplicate_streams: PE must be >= 1, got %0d", PE);
  end
  if (ELEM_BITS < 1) begin : g_bad_bits
    $error("onebit_duplicate_streams: ELEM_BITS must be >= 1, got %0d", ELEM_BITS);
  end

  logic [WIDTH-1:0] head [2];   // word offered on output i
  logic [WIDTH-1:0] spare [2];  // word queued behind it
  logic [1:0]       head_vld, spare_vld, out_rdy;

  // Both queues have a free slot: a function of registers only.
  assign s_axis_tready = spare_vld == 2'b00;
  wire s_fire = s_axis_tvalid && s_axis_tready;
  assign out_rdy = {m1_axis_tready, m_axis_tready};

  for (genvar i = 0; i < 2; i++) begin : g_out
    wire pop = head_vld[i] && out_rdy[i];

    // A word is only pushed while spare_vld[i] == 0 (see s_axis_tready).
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        head_vld[i]  <= 1'b0;
        spare_vld[i] <= 1'b0;
      end else if (s_fire && !pop) begin
        if (head_vld[i]) spare_vld[i] <= 1'b1;
        else head_vld[i] <= 1'b1;
      end else if (pop && !s_fire) begin
        head_vld[i]  <= spare_vld[i];
        spare_vld[i] <= 1'b0;
      end
    end

    // Data path without reset.
    always_ff @(posedge clk) begin
      if (s_fire && (!head_vld[i] || pop)) head[i] <= s_axis_tdata;
      else if (pop) head[i] <= spare[i];
      if (s_fire && head_vld[i] && !pop) spare[i] <= s_axis_tdata;
    end
  end

  assign m_axis_tdata   = head[0];
  assign m_axis_tvalid  = head_vld[0];
  assign m1_axis_tdata  = head[1];
  assign m1_axis_tvalid = head_vld[1];

`ifndef SYNTHESIS
  // Protocol check: an offered output word stays stable until taken.
  logic [1:0]       held_q;
  logic [WIDTH-1:0] held_data_q [2];
  always_ff @(posedge clk) begin
    for (int i = 0; i < 2; i++) begin
      held_q[i]      <= rst_n && head_vld[i] && !out_rdy[i];
      held_data_q[i] <= head[i];
      if (rst_n && held_q[i]) begin
        assert (head_vld[i] && head[i] == held_data_q[i])
        else $error("onebit_duplicate_streams: output %0d changed while stalled", i);
      end
    end
  end
`endif
endmodule

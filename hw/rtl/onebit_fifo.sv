// onebit_fifo: AXI-Stream FIFO of DEPTH words of WIDTH bits.
//
// Structure: a registered output word (`out_q`, the head of the queue) backed by a ring buffer
// of DEPTH-1 words read synchronously (block-RAM friendly). All outputs come from registers:
// m_axis_tvalid/m_axis_tdata from the output register and s_axis_tready from a registered
// "not full" flag, so there is no combinational path from any input to any output, in
// particular none from m_axis_tready to s_axis_tready. Throughput is one word per cycle in
// both directions while the FIFO is neither empty nor full; latency is one cycle (a word
// written into an empty FIFO is offered on the next cycle).
//
// DEPTH = 2 (FINN's usual FIFO between layers) is built as a skid buffer: the output register
// and one word behind it, ready while that word is empty. Its handshakes are those of the
// ring buffer cycle for cycle (a word waits behind the output register only while that is
// full, so words held = 2 exactly when the skid word is full), with less logic a cycle.
module onebit_fifo #(
  parameter int unsigned WIDTH = 8,
  parameter int unsigned DEPTH = 2
) (
  input  logic             clk,
  input  logic             rst_n,
  input  logic [WIDTH-1:0] s_axis_tdata,
  input  logic             s_axis_tvalid,
  output logic             s_axis_tready,
  output logic [WIDTH-1:0] m_axis_tdata,
  output logic             m_axis_tvalid,
  input  logic             m_axis_tready
);
  localparam int unsigned MEM_D = DEPTH - 1;
  localparam int unsigned PTR_W = MEM_D > 1 ? $clog2(MEM_D) : 1;
  localparam int unsigned CNT_W = $clog2(DEPTH + 1);

  if (DEPTH < 2) begin : g_bad_depth
    $error("onebit_fifo: DEPTH must be >= 2, got %0d", DEPTH);
  end
  if (WIDTH < 1) begin : g_bad_width
    $error("onebit_fifo: WIDTH must be >= 1, got %0d", WIDTH);
  end

  /* verilator lint_off UNUSEDSIGNAL */
  logic [CNT_W-1:0] words;  // words held (read by waveform views only)
  /* verilator lint_on UNUSEDSIGNAL */

  if (DEPTH == 2) begin : g_skid
    logic [WIDTH-1:0] head_q, skid_q;  // the output register and the word behind it
    logic             head_v, skid_v;
    wire s_fire    = s_axis_tvalid && !skid_v;
    wire head_free = !head_v || m_axis_tready;
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        head_v <= 1'b0;
        skid_v <= 1'b0;
      end else begin
        if (head_free) head_v <= skid_v || s_fire;
        skid_v <= !head_free && (skid_v || s_fire);
      end
    end
    // Data path without reset: a register loads only a word it keeps.
    always_ff @(posedge clk) begin
      if (head_free && (skid_v || s_fire)) head_q <= skid_v ? skid_q : s_axis_tdata;
      if (!head_free && s_fire) skid_q <= s_axis_tdata;
    end
    assign s_axis_tready = !skid_v;
    assign m_axis_tvalid = head_v;
    assign m_axis_tdata  = head_q;
    assign words = CNT_W'(head_v) + CNT_W'(skid_v);
  end else begin : g_ring
    logic [WIDTH-1:0] mem [MEM_D > 0 ? MEM_D : 1];
    logic [PTR_W-1:0] wr_ptr, rd_ptr;
    logic [CNT_W-1:0] mem_cnt;   // words in the ring buffer
    logic [CNT_W-1:0] total;     // words in the FIFO (ring buffer + output register)
    logic [WIDTH-1:0] out_q;
    logic             out_valid;
    logic             ready_q;

    wire s_fire   = s_axis_tvalid && ready_q;
    wire m_fire   = out_valid && m_axis_tready;
    wire out_free = !out_valid || m_fire;
    wire mem_some = mem_cnt != '0;
    wire to_mem   = s_fire && (!out_free || mem_some);  // the new word queues behind others
    wire from_mem = out_free && mem_some;

    function automatic logic [PTR_W-1:0] incr(logic [PTR_W-1:0] p);
      return (32'(p) == MEM_D - 1) ? '0 : p + 1'b1;
    endfunction

    wire [CNT_W-1:0] total_next = total + CNT_W'(s_fire) - CNT_W'(m_fire);
    // ready_q's next value, total_next < DEPTH, as a late select on the two handshakes (they
    // come through the neighbours' logic): compares of the count register made beforehand
    wire below_d  = 32'(total) < DEPTH;
    wire below_d1 = 32'(total) + 1 < DEPTH;
    wire ready_next = m_fire ? (!s_fire || below_d) : (s_fire ? below_d1 : below_d);

    always_ff @(posedge clk) begin
      if (!rst_n) begin
        wr_ptr    <= '0;
        rd_ptr    <= '0;
        mem_cnt   <= '0;
        total     <= '0;
        out_valid <= 1'b0;
        ready_q   <= 1'b1;  // empty after reset: ready at once
      end else begin
        if (to_mem) wr_ptr <= incr(wr_ptr);
        if (from_mem) rd_ptr <= incr(rd_ptr);
        mem_cnt <= mem_cnt + CNT_W'(to_mem) - CNT_W'(from_mem);
        total   <= total_next;
        ready_q <= ready_next;
        if (out_free) out_valid <= mem_some || s_fire;
      end
    end

    // Data path without reset.
    always_ff @(posedge clk) begin
      if (to_mem) mem[wr_ptr] <= s_axis_tdata;
      if (from_mem) out_q <= mem[rd_ptr];
      else if (out_free && s_fire) out_q <= s_axis_tdata;
    end

    assign s_axis_tready = ready_q;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tdata  = out_q;
    assign words = total;

`ifndef SYNTHESIS
    // The late select is the "not full" flag it stands for, in every simulated cycle.
    always_ff @(posedge clk) begin
      if (rst_n) begin
        assert (ready_next == (32'(total_next) < DEPTH))
        else $error("onebit_fifo: ready_next differs from total_next < DEPTH");
      end
    end
`endif
  end
endmodule

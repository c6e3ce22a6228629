// onebit_thresholding: multi-threshold activation of a channel stream (FINN's Thresholding).
//
//   y[c] = #{t : x[c] >= thr[c][t]} + OUT_BIAS
//
// Each input word holds PE channels (element 0 in the LSBs, IN_BITS each, two's complement
// when IN_SIGNED); words cycle through the NF = C / PE channel folds, word nf holding channels
// nf * PE + p. Outputs are OUT_BITS-bit codes of y (two's complement, truncated), PE a word.
//
// Pipelined binary search: the thresholds of a channel, ascending, padded to 2^STAGES - 1 with
// a value no input reaches, form an implicit search tree; stage s compares x with node j of
// tree level s (2^s nodes) and steps to node 2j or 2j + 1. After STAGES steps j is the count.
// Each stage is two registered steps: the threshold is read from the stage's memory at address
// {nf, j} (a register: nothing precedes the memory), then compared with x (the only logic
// between registers: one T_BITS-bit compare and j's shift). Lane p of stage s reads its own
// memory of NF * 2^s words, `<THRES_PREFIX>threshs_<p>_<s>.dat` (one T_BITS-bit value a line,
// hex, offset binary: value + 2^(T_BITS-1), at line nf * 2^s + j; written by
// onebit.hw.thresholding), placed by
// its depth as FINN's RTL thresholding does: URAM from DEPTH_TRIGGER_URAM words (if non-zero),
// else BRAM from DEPTH_TRIGGER_BRAM (if non-zero), else LUTs when a BRAM trigger is set, else
// where the tool likes.
//
// One word per cycle, latency 2 * STAGES + 2 cycles. Results go to an output FIFO; an input is
// only taken with a credit for a free slot, so the pipeline never stalls and s_axis_tready is a
// register compare (no path from m_axis_tready).
module onebit_thresholding #(
  parameter int unsigned PE                 = 1,
  parameter int unsigned NF                 = 1,
  parameter int unsigned IN_BITS            = 8,
  parameter bit          IN_SIGNED          = 1'b0,
  parameter int unsigned STAGES             = 1,  // thresholds <= 2^STAGES - 1
  parameter int unsigned T_BITS             = 9,  // bits of [min x, max x + 1] as signed
  parameter int unsigned OUT_BITS           = 1,
  parameter int          OUT_BIAS           = 0,
  parameter string       THRES_PREFIX       = "",
  parameter int unsigned DEPTH_TRIGGER_URAM = 0,
  parameter int unsigned DEPTH_TRIGGER_BRAM = 0
) (
  input  logic                   clk,
  input  logic                   rst_n,
  input  logic [PE*IN_BITS-1:0]  s_axis_tdata,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,
  output logic [PE*OUT_BITS-1:0] m_axis_tdata,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);
  localparam int unsigned NF_W = NF > 1 ? $clog2(NF) : 1;
  localparam int unsigned J_W = STAGES;          // a lane's node index (its count at the end)
  localparam int unsigned FIFO_DEPTH = 2 * STAGES + 4;  // credits for one result a cycle
  localparam int unsigned CR_W = $clog2(FIFO_DEPTH + 1);
  localparam int unsigned OUT_W = PE * OUT_BITS;

  if (PE < 1 || NF < 1 || IN_BITS < 1 || OUT_BITS < 1) begin : g_bad_size
    $error("onebit_thresholding: PE, NF, IN_BITS and OUT_BITS must be >= 1");
  end
  if (T_BITS < IN_BITS + 1) begin : g_bad_t_bits
    $error("onebit_thresholding: T_BITS must be >= IN_BITS + 1, got %0d", T_BITS);
  end
  if (STAGES < 1 || STAGES > 16) begin : g_bad_stages
    $error("onebit_thresholding: STAGES must be in 1..16, got %0d", STAGES);
  end

  // ---- intake: one word a cycle while a credit is left ---------------------------------------
  logic [NF_W-1:0] nf;
  logic [CR_W-1:0] credits;
  logic            fifo_s_ready, fifo_m_valid;
  assign s_axis_tready = credits != '0;
  wire s_fire = s_axis_tvalid && s_axis_tready;
  wire m_fire = fifo_m_valid && m_axis_tready;
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      nf      <= '0;
      credits <= CR_W'(FIFO_DEPTH);
    end else begin
      if (s_fire) nf <= 32'(nf) == NF - 1 ? '0 : nf + 1'b1;
      credits <= credits - CR_W'(s_fire) + CR_W'(m_fire);
    end
  end

  // ---- search: r_* enter stage s (r_*[0] the word taken), t_* hold its thresholds read ---------
  // Lanes are arrays of their own (a simulator then moves words, not slices of wide vectors).
  // x and the thresholds are compared in offset binary (value + 2^(T_BITS-1): two's complement
  // with the sign bit inverted), an unsigned compare of the same order.
  typedef logic [T_BITS-1:0] val_t;
  localparam val_t MSB = val_t'(1) << (T_BITS - 1);
  logic            r_v  [STAGES+1];
  val_t            r_x  [STAGES+1][PE];
  logic [NF_W-1:0] r_nf [STAGES+1];
  logic [J_W-1:0]  r_j  [STAGES+1][PE];  // lane p's node in level s (its count at the end)
  logic            t_v  [STAGES];
  val_t            t_x  [STAGES][PE];
  logic [NF_W-1:0] t_nf [STAGES];
  logic [J_W-1:0]  t_j  [STAGES][PE];
  val_t            t_thr [STAGES][PE];

  always_ff @(posedge clk) begin
    if (!rst_n) r_v[0] <= 1'b0;
    else r_v[0] <= s_fire;
  end
  // Data registers load only with a valid word (clock enables: a simulator skips idle lanes).
  always_ff @(posedge clk) begin
    if (s_fire) begin
      r_nf[0] <= nf;
      for (int p = 0; p < int'(PE); p++) begin
        r_x[0][p] <= MSB ^ (IN_SIGNED ? val_t'($signed(s_axis_tdata[p*IN_BITS +: IN_BITS]))
                                      : val_t'(s_axis_tdata[p*IN_BITS +: IN_BITS]));
        r_j[0][p] <= '0;
      end
    end
  end

  for (genvar s = 0; s < STAGES; s++) begin : g_stage
    localparam int unsigned DEPTH = NF << s;
    localparam int unsigned AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
    /* verilator lint_off UNUSEDPARAM */  // (an attribute: synthesis reads it)
    localparam string STYLE =
        DEPTH_TRIGGER_URAM != 0 && DEPTH >= DEPTH_TRIGGER_URAM ? "ultra"
      : DEPTH_TRIGGER_BRAM != 0 && DEPTH >= DEPTH_TRIGGER_BRAM ? "block"
      : DEPTH_TRIGGER_BRAM != 0 ? "distributed" : "auto";
    /* verilator lint_on UNUSEDPARAM */
    for (genvar p = 0; p < PE; p++) begin : g_lane
      (* ram_style = STYLE *) logic [T_BITS-1:0] mem [DEPTH];
      initial $readmemh($sformatf("%sthreshs_%0d_%0d.dat", THRES_PREFIX, p, s), mem);
      // address {nf, j}: node j of level s (j < 2^s) of channel nf * PE + p
      wire [AW-1:0] addr = AW'(32'(r_nf[s]) * (1 << s) + 32'(r_j[s][p]));
      logic [T_BITS-1:0] rd;  // the memory's own read register (block RAM's output register)
      always_ff @(posedge clk) if (r_v[s]) rd <= mem[addr];
      assign t_thr[s][p] = rd;
    end
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        t_v[s]     <= 1'b0;
        r_v[s + 1] <= 1'b0;
      end else begin
        t_v[s]     <= r_v[s];
        r_v[s + 1] <= t_v[s];
      end
    end
    always_ff @(posedge clk) begin
      if (r_v[s]) begin
        t_nf[s] <= r_nf[s];
        for (int p = 0; p < int'(PE); p++) begin
          t_x[s][p] <= r_x[s][p];
          t_j[s][p] <= r_j[s][p];
        end
      end
      if (t_v[s]) begin
        r_nf[s + 1] <= t_nf[s];
        for (int p = 0; p < int'(PE); p++) begin
          r_x[s + 1][p] <= t_x[s][p];
          r_j[s + 1][p] <= J_W'({t_j[s][p], t_x[s][p] >= t_thr[s][p]});
        end
      end
    end
  end

  // ---- outputs: the counts, biased ------------------------------------------------------------
  // Registered beside the last stage's counts r_j[STAGES] (the same cycle, the same enable), so
  // a simulator computes them only for a valid word, not every cycle; synthesis keeps y and
  // drops r_j[STAGES], which nothing else reads.
  localparam int unsigned L = STAGES - 1;
  logic [OUT_W-1:0] y;
  always_ff @(posedge clk)
    if (t_v[L])
      for (int p = 0; p < int'(PE); p++)
        y[p*OUT_BITS +: OUT_BITS] <=
            OUT_BITS'(32'(J_W'({t_j[L][p], t_x[L][p] >= t_thr[L][p]})) + OUT_BIAS);

  onebit_fifo #(
    .WIDTH(OUT_W),
    .DEPTH(FIFO_DEPTH)
  ) u_out (
    .clk          (clk),
    .rst_n        (rst_n),
    .s_axis_tdata (y),
    .s_axis_tvalid(r_v[STAGES]),
    .s_axis_tready(fifo_s_ready),
    .m_axis_tdata (m_axis_tdata),
    .m_axis_tvalid(fifo_m_valid),
    .m_axis_tready(m_axis_tready)
  );
  assign m_axis_tvalid = fifo_m_valid;

  /* verilator lint_off UNUSEDSIGNAL */
  logic unused;  // the last stage's x, fold and counts are not read (y is)
  always_comb begin
    unused = ^r_nf[STAGES];
    for (int p = 0; p < int'(PE); p++) unused ^= ^{r_x[STAGES][p], r_j[STAGES][p]};
  end
  /* verilator lint_on UNUSEDSIGNAL */

`ifndef SYNTHESIS
  always_ff @(posedge clk) begin
    if (rst_n && r_v[STAGES] && !fifo_s_ready)
      $error("onebit_thresholding: output FIFO overflow (credit bug)");
  end
`endif
endmodule
